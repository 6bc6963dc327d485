/**
 * What this machine must offer for namespace clusters (root, `ip`, `iptables`), and the commands that change it.
 * Every command is argv (no shell) and fails loudly, naming the command and its output.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const onPath = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

let installTried = false;

/** Install iproute2 and iptables with apt-get when one is missing and we are root (once per process). */
function installMissing(): void {
  if (installTried || (onPath('ip') && onPath('iptables')) || !onPath('apt-get')) return;
  installTried = true;
  process.stderr.write('# installing iproute2 and iptables with apt-get for the netns cluster\n');
  const apt = (...args: string[]): void => {
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', '-y', '-q', ...args], { stdio: 'ignore', timeout: 600_000 });
  };
  apt('update');
  apt('install', '--no-install-recommends', 'iproute2', 'iptables');
}

/**
 * null when this process can make namespaces (root, `ip` and `iptables` present, and a namespace can really be made);
 * else why not.
 */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces need root; this test runs as a normal user';
  installMissing();
  const missing = ['ip', 'iptables'].filter((c) => !onPath(c));
  if (missing.length > 0) return `${missing.join(' and ')} not found (apt-get install iproute2 iptables)`;
  const probe = `lltprobe${process.pid}`;
  try {
    await exec('ip', ['netns', 'add', probe]);
    await exec('ip', ['netns', 'exec', probe, 'iptables', '-L', 'INPUT', '-n']);
    return null;
  } catch (error) {
    return `cannot make a network namespace with iptables in it: ${(error as Error).message.split('\n')[0] ?? ''}`;
  } finally {
    await exec('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
}

/** Run a command (ip, iptables) and fail with its output when it fails. */
export async function run(command: string, args: readonly string[]): Promise<string> {
  try {
    return (await exec(command, [...args], { timeout: 30_000 })).stdout;
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: error });
  }
}

/** The same, synchronously and ignoring failure: for the exit guard, when nothing async runs any more. */
export function runSync(command: string, args: readonly string[]): void {
  try {
    execFileSync(command, [...args], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // best effort: the guard removes what is still there
  }
}
