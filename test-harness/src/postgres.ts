/**
 * A real, throwaway PostgreSQL server for tests: Debian's `postgresql` package (installed once per machine when
 * missing), its newest `/usr/lib/postgresql/<major>/bin` — never the Debian cluster machinery or the system service.
 * `initdb` and `postgres` run as the unprivileged `postgres` user (PostgreSQL refuses root) on a fresh temporary
 * data directory, listening on a free 127.0.0.1 port and on a unix socket inside that directory. A login role with a
 * random password owns the database, so the URL reads like a deployment's. Durability is off, for speed. Stopped by
 * pid; the directory is removed however the test ends.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { commandsFrom } from './debian-packages.ts';
import { freePort } from './free-port.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from './processes.ts';

const run = promisify(execFile);
const ROLE = 'llorch';
const INITDB_BUDGET_MS = 60_000;
const READY_BUDGET_MS = 30_000;
const PSQL_BUDGET_MS = 10_000;

export interface PostgresServer {
  /** `postgres://llorch:<password>@127.0.0.1:<port>/<database>`. */
  readonly url: string;
  readonly port: number;
  /** The postmaster's pid. */
  readonly pid: number;
  /** The data directory, also the unix socket's directory; removed by stop(). */
  readonly dataDir: string;
  /** Fast shutdown (SIGINT), then SIGTERM and SIGKILL after a grace; removes the data directory. Safe to call twice. */
  stop(): Promise<void>;
}

let found: Promise<string> | undefined;
const serverBin = (): Promise<string> => (found ??= findServerBin());

/** The newest server bin directory, installing the Debian package when missing (`pg_ctlcluster` is its on-PATH mark). */
async function findServerBin(): Promise<string> {
  await commandsFrom('postgresql', ['pg_ctlcluster', 'psql']);
  const root = '/usr/lib/postgresql';
  const majors = readdirSync(root)
    .filter((major) => /^\d+$/.test(major) && existsSync(join(root, major, 'bin', 'initdb')))
    .sort((a, b) => Number(a) - Number(b));
  const newest = majors.at(-1);
  if (newest === undefined) throw new Error(`no ${root}/<major>/bin/initdb: run \`apt-get install -y postgresql\``);
  return join(root, newest, 'bin');
}

/** The command and arguments that run `command` as the `postgres` user when we are root (setpriv execs in place). */
function asPostgres(command: string, args: readonly string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, [...args]];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args]];
}

const env = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' });

/**
 * Run SQL as the superuser over the unix socket in `dataDir` (trusted) on `database`: the rows it returns, one string
 * per row, columns joined by `|`; fails with psql's stderr.
 */
async function superuserSql(dataDir: string, port: number, database: string, sql: string): Promise<string[]> {
  const psql = join(await serverBin(), 'psql');
  const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', dataDir, '-p', String(port), '-U', 'postgres'];
  const { stdout } = await run(psql, [...args, '-d', database, '-c', sql], { env: env(), timeout: PSQL_BUDGET_MS });
  return stdout.split('\n').filter((line) => line !== '');
}

/** Run SQL as the superuser on `server`'s database (the one its URL names): the rows it returns (see superuserSql). */
export function query(server: PostgresServer, sql: string): Promise<string[]> {
  return superuserSql(server.dataDir, server.port, new URL(server.url).pathname.slice(1), sql);
}

const identifier = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
};

/** A new database on `server`, owned by the same role; resolves to its URL. */
export async function createDatabase(server: PostgresServer, name: string): Promise<string> {
  await superuserSql(server.dataDir, server.port, 'postgres', `CREATE DATABASE ${identifier(name)} OWNER ${ROLE}`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Start a server with one database (`llorch` unless named) owned by the password role; resolves once it serves it. */
export async function startPostgres(options: { database?: string } = {}): Promise<PostgresServer> {
  const database = identifier(options.database ?? 'llorch');
  const bin = await serverBin();
  const dataDir = await mkdtemp(join(tmpdir(), 'llorch-postgres-'));
  let proc: RunningProcess | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (proc !== null && proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGINT');
        await stopProcess(proc);
      }
      await rm(dataDir, { recursive: true, force: true });
    })());
  try {
    if (process.getuid?.() === 0) {
      const [uid, gid] = await Promise.all(['-u', '-g'].map((flag) => run('id', [flag, 'postgres'])));
      await chown(dataDir, Number(uid?.stdout), Number(gid?.stdout));
    }
    const [initCommand, initArgs] = asPostgres(join(bin, 'initdb'), [
      ...['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      ...['--auth-local=trust', '--auth-host=scram-sha-256'],
    ]);
    await run(initCommand, initArgs, { env: env(), cwd: dataDir, timeout: INITDB_BUDGET_MS }).catch((e: unknown) => {
      throw new Error(`initdb failed: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    });
    const port = await freePort();
    const settings = ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200'];
    const [command, args] = asPostgres(join(bin, 'postgres'), [
      ...['-D', dataDir, '-k', dataDir, '-h', '127.0.0.1', '-p', String(port)],
      ...settings.flatMap((setting) => ['-c', setting]),
    ]);
    const started = startProcess(command, args, env(), dataDir);
    proc = started;
    await waitFor(
      'postgres to accept connections',
      () => {
        if (started.child.exitCode !== null || started.child.signalCode !== null)
          throw new Error('postgres exited before it accepted connections');
        return superuserSql(dataDir, port, 'postgres', 'SELECT 1').then(
          () => true,
          () => undefined,
        );
      },
      READY_BUDGET_MS,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\npostgres output:\n${started.output()}`);
    });
    const password = randomBytes(16).toString('hex');
    await superuserSql(dataDir, port, 'postgres', `CREATE ROLE ${ROLE} LOGIN PASSWORD '${password}'`);
    await superuserSql(dataDir, port, 'postgres', `CREATE DATABASE ${database} OWNER ${ROLE}`);
    const pid = started.child.pid;
    if (pid === undefined) throw new Error('postgres has no pid');
    return { url: `postgres://${ROLE}:${password}@127.0.0.1:${port}/${database}`, port, pid, dataDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
