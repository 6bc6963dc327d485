import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';

/** The TCP states /proc/net/tcp{,6} calls LISTEN. */
const LISTEN = '0A';

/** The inodes of the sockets listening on `port` in this network namespace (IPv4 and IPv6). */
async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] !== LISTEN) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && fields[9] !== undefined)
        inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * Is the process a handoff names the engine it claims to be: a `llama-server` that itself listens on the handoff's
 * port? A handoff is only a file: without this, one naming an unrelated pid and another listener on loopback would
 * get prompts. Returns null when it is, else the reason (never anything read from the process beyond its name).
 * Where /proc does not exist (not Linux), nothing can be checked and null is returned.
 */
export async function engineIdentityProblem(pid: number, url: string): Promise<string | null> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch((error: NodeJS.ErrnoException) => error);
  if (cmdline instanceof Error) {
    if (cmdline.code === 'ENOENT' && (await readdir('/proc/self').catch(() => null)) === null) return null;
    return `engine process ${pid} cannot be checked (${cmdline.code ?? cmdline.message})`;
  }
  const program = basename(cmdline.split('\0')[0] ?? '');
  if (program !== 'llama-server')
    return `process ${pid} is not llama-server (it runs ${program === '' ? 'nothing visible' : program})`;
  const port = Number(new URL(url).port);
  const inodes = await listeningInodes(port);
  const fds = await readdir(`/proc/${pid}/fd`).catch((error: NodeJS.ErrnoException) => error);
  if (fds instanceof Error)
    return `the sockets of engine process ${pid} cannot be checked (${fds.code ?? fds.message})`;
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) return null;
  }
  return `llama-server ${pid} does not listen on port ${port} of its handoff's url`;
}
