/**
 * The throwaway PostgreSQL server (src/postgres.ts): it serves its database over TCP to the password role only, a
 * second database can be made on it, and stop() leaves no process and no data directory behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import { createDatabase, startPostgres, type PostgresServer } from '../src/postgres.ts';
import { isAlive } from '../src/processes.ts';

/** `psql <url> -c <sql>` with a time budget: its exit code and the rows it printed. */
function psql(url: string, sql: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PGCONNECT_TIMEOUT: '5' };
    execFile('psql', [url, '-X', '-A', '-t', '-c', sql], { env, timeout: 10_000 }, (error, stdout) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, out: stdout.trim() }),
    );
  });
}

const withPassword = (url: string, password: string): string => {
  const u = new URL(url);
  u.password = password;
  return u.toString();
};

let server: PostgresServer | undefined;
after(() => server?.stop());

test('the server answers the password role over TCP, refuses a wrong password, and stop() leaves nothing behind', async () => {
  server = await startPostgres();
  assert.match(server.url, /^postgres:\/\/llorch:[0-9a-f]{32}@127\.0\.0\.1:\d+\/llorch$/);

  const answer = await psql(server.url, 'SELECT current_user, current_database()');
  assert.deepEqual(answer, { code: 0, out: 'llorch|llorch' });

  // psql exits 2 when the connection fails; the same host and port just answered, so the password was refused.
  const refused = await psql(withPassword(server.url, 'wrong'), 'SELECT 1');
  assert.equal(refused.code, 2);

  const other = await createDatabase(server, 'journal_b');
  assert.deepEqual(await psql(other, 'SELECT current_database()'), { code: 0, out: 'journal_b' });

  const { pid, dataDir } = server;
  await server.stop();
  await server.stop();
  assert.equal(isAlive(pid), false);
  assert.equal(existsSync(dataDir), false);
});
