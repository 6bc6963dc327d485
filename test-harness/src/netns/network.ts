/**
 * The network of one cluster: a bridge in the root namespace with 10.213.<octet>.1/24, and per node a namespace
 * with `lo` up and a veth whose inside end (eth0) has 10.213.<octet>.<2+index>. The octet is claimed by an exclusive
 * directory under /run/llorch-netns, so concurrent clusters never share a range; a claim whose owner died is swept
 * (its namespaces, processes and bridge removed) before it is taken again. Nothing here touches traffic outside the
 * bridge and its namespaces: fault rules live in a node's own namespace and name its eth0.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive } from '../processes.ts';
import { run, runSync } from './host.ts';

const CLAIMS = '/run/llorch-netns';
/** Inside a node's namespace: its one link to the bridge. */
export const NODE_IFACE = 'eth0';

export interface NodeNetwork {
  readonly namespace: string;
  readonly ip: string;
  readonly hostVeth: string;
}

const bridgeOf = (octet: number): string => `lltb${octet}`;
const prefixOf = (octet: number): string => `llt${octet}-`;

/** Namespaces whose names start with `prefix`. */
function namespacesSync(prefix: string): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Pids of every process in a namespace (all of them ours: the namespace is). */
function pidsInSync(namespace: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' })
      .split('\n')
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** The names of the links of the root namespace. */
function linksSync(): string[] {
  try {
    return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '');
  } catch {
    return [];
  }
}

/** Our host-side veths (`lltv<octet>-<i>`) that exist now. */
const vethsSync = (octet: number): string[] => linksSync().filter((name) => name.startsWith(`lltv${octet}-`));

/**
 * Kill what runs in our namespaces, delete our veths, the namespaces and the bridge: synchronous, for the exit guard
 * and sweeps. A veth is deleted by name, not left to the namespace's end: a process elsewhere with a copy of the
 * /run/netns mounts (a container started meanwhile) can keep a deleted namespace, and its veth, alive.
 */
function removeSync(octet: number): void {
  for (const namespace of namespacesSync(prefixOf(octet))) {
    for (const pid of pidsInSync(namespace)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  for (const veth of vethsSync(octet)) runSync('ip', ['link', 'del', veth]);
  for (const namespace of namespacesSync(prefixOf(octet))) runSync('ip', ['netns', 'del', namespace]);
  runSync('ip', ['link', 'del', bridgeOf(octet)]);
}

/** Claim a free octet: sweep claims whose owner died, then mkdir one at random (exclusive). */
async function claimOctet(): Promise<number> {
  await mkdir(CLAIMS, { recursive: true });
  for (const name of await readdir(CLAIMS)) {
    const owner = Number(await readFile(join(CLAIMS, name, 'owner'), 'utf8').catch(() => '0'));
    if (owner > 0 && !isAlive(owner)) {
      removeSync(Number(name));
      await rm(join(CLAIMS, name), { recursive: true, force: true });
    }
  }
  // Namespaces and links of ours whose range nobody claims (a claim is made before anything in its range).
  const claimed = new Set(await readdir(CLAIMS));
  const names = [...namespacesSync('llt'), ...linksSync()];
  for (const octet of new Set(names.map((n) => /^llt[bv]?(\d+)(?:-|$)/.exec(n)?.[1]).filter((o) => o !== undefined)))
    if (!claimed.has(octet)) removeSync(Number(octet));
  const start = Math.floor(Math.random() * 250);
  for (let i = 0; i < 250; i += 1) {
    const octet = ((start + i) % 250) + 1;
    try {
      await mkdir(join(CLAIMS, String(octet)));
    } catch {
      continue;
    }
    await writeFile(join(CLAIMS, String(octet), 'owner'), String(process.pid));
    return octet;
  }
  throw new Error(`no free 10.213.x.0/24 range: every claim in ${CLAIMS} is held`);
}

export class ClusterNetwork {
  readonly bridge: string;
  readonly gateway: string;
  private readonly prefix: string;
  readonly octet: number;
  private removed = false;

  private constructor(octet: number) {
    this.octet = octet;
    this.bridge = bridgeOf(octet);
    this.prefix = prefixOf(octet);
    this.gateway = `10.213.${octet}.1`;
  }

  /** Claim a range and make the bridge; removes what it made when a step fails. */
  static async create(): Promise<ClusterNetwork> {
    const network = new ClusterNetwork(await claimOctet());
    try {
      removeSync(network.octet); // leftovers of a claim whose owner was this very pid number, long ago
      await run('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
      await run('ip', ['addr', 'add', `${network.gateway}/24`, 'dev', network.bridge]);
      await run('ip', ['link', 'set', network.bridge, 'up']);
      return network;
    } catch (error) {
      network.remove();
      throw error;
    }
  }

  /** The namespace of node number `index` (0-based), its veth on the bridge and its IP. */
  async addNode(nodeId: string, index: number): Promise<NodeNetwork> {
    const namespace = `${this.prefix}${nodeId}`;
    const hostVeth = `lltv${this.octet}-${index}`;
    const ip = `10.213.${this.octet}.${index + 2}`;
    await run('ip', ['netns', 'add', namespace]);
    await run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', NODE_IFACE, 'netns', namespace]);
    await run('ip', ['link', 'set', hostVeth, 'master', this.bridge]);
    await run('ip', ['link', 'set', hostVeth, 'up']);
    await run('ip', ['-n', namespace, 'addr', 'add', `${ip}/24`, 'dev', NODE_IFACE]);
    await run('ip', ['-n', namespace, 'link', 'set', NODE_IFACE, 'up']);
    await run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    return { namespace, ip, hostVeth };
  }

  /** The names of this cluster's namespaces that exist now. */
  namespaces(): string[] {
    return namespacesSync(this.prefix);
  }

  /**
   * Kill every process left in the namespaces, delete them, the veths (with them) and the bridge, and give the range
   * back; idempotent. Synchronous, so that the exit guard can call it too.
   */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    removeSync(this.octet);
    rmSync(join(CLAIMS, String(this.octet)), { recursive: true, force: true });
  }
}
