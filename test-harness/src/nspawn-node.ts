/**
 * A machine booted with systemd as PID 1, for the tests of the bare-metal units: a Debian bookworm root with systemd
 * (debootstrap, once per machine, cached as a tarball beside the test engine) booted with systemd-nspawn on a private
 * network. Needs root, debootstrap and systemd-nspawn (installed with apt-get where missing) and Debian's mirror the
 * first time.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testCacheDir } from './engine-fixture.ts';
import { startProcess, waitFor, type RunningProcess } from './processes.ts';

const SUITE = 'bookworm';
/** systemd to boot, the llama-server's OpenMP runtime, curl to ask the daemons and procps to look at processes. */
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'libgomp1', 'curl', 'ca-certificates', 'procps'];

const onPath = (command: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function run(command: string, args: readonly string[], timeoutMs = 600_000): string {
  const done = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  if (done.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${done.status}):\n${done.stderr}`);
  return done.stdout;
}

/** Why this machine cannot boot a container (not root, no tools and no apt), or null when it can. */
export function nspawnUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'booting a systemd container needs root';
  const missing = (): string[] =>
    [
      ['systemd-nspawn', 'systemd-container'],
      ['debootstrap', 'debootstrap'],
      ['nsenter', 'util-linux'],
    ].flatMap(([command = '', pkg = '']) => (onPath(command) ? [] : [pkg]));
  if (missing().length > 0 && onPath('apt-get')) {
    process.stderr.write(`# installing ${missing().join(', ')} with apt-get\n`);
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q', ...missing()], {
      stdio: 'ignore',
      timeout: 600_000,
    });
  }
  const still = missing();
  return still.length === 0 ? null : `missing ${still.join(', ')} (apt-get install ${still.join(' ')})`;
}

/** The cached root tarball, made with debootstrap when missing. */
async function rootTarball(): Promise<string> {
  const mirror = process.env['LLORCH_DEBIAN_MIRROR'] ?? 'http://deb.debian.org/debian';
  const key = createHash('sha256')
    .update(`${SUITE} ${PACKAGES.join(',')} ${mirror}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(testCacheDir(), 'systemd-root');
  const tarball = join(dir, `${SUITE}-${key}.tar`);
  if (existsSync(tarball)) return tarball;
  await mkdir(dir, { recursive: true });
  const scratch = await mkdtemp(join(dir, 'make-'));
  try {
    process.stderr.write(`# debootstrap ${SUITE} with systemd (once per machine; cached in ${dir})\n`);
    const tree = join(scratch, 'root');
    run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, tree, mirror], 1_200_000);
    run('tar', ['-C', tree, '-cf', join(scratch, 'root.tar'), '.']);
    await rename(join(scratch, 'root.tar'), tarball);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return tarball;
}

/**
 * A fresh root file system (the cached tarball unpacked into `dir`), with the localhost names a Debian host has and a
 * persistent journal, which the host reads after the container has shut down (journalctl --directory).
 */
export async function unpackRoot(dir: string): Promise<void> {
  run('tar', ['-C', dir, '-xf', await rootTarball()]);
  await mkdir(join(dir, 'var/log/journal'), { recursive: true });
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n');
}

export interface BootedNode {
  /** Run a command inside the container (all its namespaces); its status and output. */
  exec(command: readonly string[]): {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
  };
  /** The console output so far (systemd's boot messages). */
  console(): string;
  /** Shut the container down as a machine halts (one transaction stopping every unit); SIGKILL after a minute. */
  stop(): Promise<void>;
}

/** Boot `root` with systemd-nspawn: its own network (loopback only), `binds` as [host path, path inside] read-only. */
export async function bootNode(root: string, binds: readonly (readonly [string, string])[]): Promise<BootedNode> {
  const machine = `llorch-${process.pid}-${Date.now().toString(36)}`;
  const nspawn: RunningProcess = startProcess(
    'systemd-nspawn',
    [
      '--directory',
      root,
      '--boot',
      '--keep-unit',
      '--register=no',
      '--private-network',
      `--machine=${machine}`,
      ...binds.map(([host, inside]) => `--bind-ro=${host}:${inside}`),
    ],
    process.env,
  );
  const stop = async (): Promise<void> => {
    if (nspawn.child.exitCode !== null || nspawn.child.signalCode !== null) return;
    nspawn.child.kill('SIGTERM'); // nspawn asks the container's systemd to halt
    const timer = setTimeout(() => nspawn.child.kill('SIGKILL'), 60_000);
    await nspawn.exited;
    clearTimeout(timer);
  };
  try {
    const leader = await waitFor(
      'the container to start systemd',
      () => {
        if (nspawn.child.exitCode !== null) throw new Error(`systemd-nspawn exited:\n${nspawn.output()}`);
        const child = spawnSync('pgrep', ['-P', String(nspawn.child.pid), '-x', 'systemd'], { encoding: 'utf8' });
        return child.stdout.trim() === '' ? undefined : Number(child.stdout.trim().split('\n')[0]);
      },
      60_000,
    );
    const exec: BootedNode['exec'] = (command) => {
      const done = spawnSync('nsenter', ['-t', String(leader), '-a', ...command], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { status: done.status, stdout: done.stdout, stderr: done.stderr };
    };
    await waitFor(
      'the container to finish booting',
      () => {
        const state = exec(['systemctl', 'is-system-running']).stdout.trim();
        return ['running', 'degraded'].includes(state) ? state : undefined;
      },
      120_000,
      250,
    );
    return { exec, console: nspawn.output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
