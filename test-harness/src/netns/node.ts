/**
 * One GPU "node" of the cluster: pool-managerd (CLOUD profile, mutual TLS) bound to <ip>:9200 inside the node's
 * namespace, provisioning its demo-model engines in-process on the namespace's 127.0.0.1 from the shared build cache.
 * Faults are real: the node's link goes down or its namespace drops eth0 traffic; a hung node is its pool-managerd
 * stopped with SIGSTOP.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { POOL_MANAGERD_CLI } from '../pool-managerd-process.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from '../processes.ts';
import { handoffsIn, PROVISIONER_CLI, readHandoff } from '../provisioner-cli.ts';
import type { ClusterCa, TlsFiles } from './certs.ts';
import { run } from './host.ts';
import { NODE_IFACE, type NodeNetwork } from './network.ts';
import type { NetNode, NodeSpec } from './types.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

export const POOL_MANAGERD_PORT = 9200;
/** How long pool-managerd may take to say it listens (engines come up after that). */
const LISTEN_BUDGET_MS = 60_000;
/**
 * Default context of a pool: room for the endless tasks the scenarios need to still be running. On a 1-slot pool of
 * 4,096 an endless task hits the context after 4,093 tokens: 6.5 s at the 631 tokens/s of the dev VM, and about 3.5 s
 * on the faster CI machine, where it raced a check that waits 3 s (cancel.feature:53). 65,536 gives it most of a minute.
 */
const DEFAULT_CTX = 65_536;

type Fault = 'link' | 'drop';

/** The iptables rules of a `drop` partition: only eth0 traffic, inside the node's own namespace. */
const DROP_RULES = [
  ['INPUT', '-i', NODE_IFACE, '-j', 'DROP'],
  ['OUTPUT', '-o', NODE_IFACE, '-j', 'DROP'],
] as const;

export class ClusterNode implements NetNode {
  readonly url: string;
  readonly runtimeDir: string;
  private proc: RunningProcess | null = null;
  /** engine-provisioner, when the node's engines run as a sidecar. */
  private provisioner: RunningProcess | null = null;
  private earlierLogs = '';
  private readonly faults = new Set<Fault>();
  private hung = false;

  readonly spec: NodeSpec;
  private readonly net: NodeNetwork;
  private readonly configFile: string;
  private readonly tls: TlsFiles;

  private constructor(spec: NodeSpec, net: NodeNetwork, configFile: string, tls: TlsFiles, dir: string) {
    this.spec = spec;
    this.net = net;
    this.configFile = configFile;
    this.tls = tls;
    this.url = `https://${net.ip}:${POOL_MANAGERD_PORT}`;
    this.runtimeDir = join(dir, 'run');
  }

  get id(): string {
    return this.spec.id;
  }
  get ip(): string {
    return this.net.ip;
  }
  get namespace(): string {
    return this.net.namespace;
  }

  /** Write the node's config and certificate under `<clusterDir>/<id>` and start its pool-managerd. */
  static async start(
    spec: NodeSpec,
    net: NodeNetwork,
    clusterDir: string,
    ca: ClusterCa,
    cacheDir: string,
  ): Promise<ClusterNode> {
    const dir = join(clusterDir, spec.id);
    await mkdir(dir, { recursive: true });
    const configFile = join(dir, 'node.yaml');
    await writeFile(
      configFile,
      [
        `node_id: ${spec.id}`,
        `runtime_dir: ${join(dir, 'run')}`,
        `cache_dir: ${cacheDir}`,
        'engine: { device: cpu }',
        'pools:',
        ...spec.pools.map((p) => `  - { id: ${p.id}, model: demo, ctx: ${p.ctx ?? DEFAULT_CTX}, slots: ${p.slots} }`),
        '',
      ].join('\n'),
    );
    const node = new ClusterNode(spec, net, configFile, await ca.server(spec.id, net.ip), dir);
    if (spec.engines === 'sidecar') node.startProvisioner(cacheDir);
    await node.startPoolManagerd();
    return node;
  }

  /** `engine-provisioner up` in the namespace, writing handoffs where the watch-only pool-managerd reads them. */
  private startProvisioner(cacheDir: string): void {
    const { PROMETHEUS_METRICS_PORT: _metrics, ...inherited } = process.env;
    this.provisioner = startProcess(
      'ip',
      ['netns', 'exec', this.namespace, process.execPath, ...DAEMON_NODE_FLAGS, PROVISIONER_CLI, 'up'],
      {
        ...inherited,
        LLORCH_CONFIG: this.configFile,
        ENGINE_PROVISIONER_HANDOFF_DIR: join(this.runtimeDir, 'engines'),
        ENGINE_PROVISIONER_CACHE_DIR: cacheDir,
      },
    );
  }

  async startPoolManagerd(): Promise<void> {
    if (this.proc !== null) throw new Error(`pool-managerd of ${this.id} runs already`);
    const { PROMETHEUS_METRICS_PORT: _metrics, ...inherited } = process.env;
    const proc = startProcess(
      'ip',
      ['netns', 'exec', this.namespace, process.execPath, ...DAEMON_NODE_FLAGS, POOL_MANAGERD_CLI],
      {
        ...inherited,
        ...(this.provisioner === null
          ? { LLORCH_CONFIG: this.configFile }
          : { LLORCH_CONFIG: undefined, POOL_MANAGERD_RUNTIME_DIR: this.runtimeDir }),
        POOL_MANAGERD_PROFILE: 'cloud',
        POOL_MANAGERD_BIND_ADDR: `${this.ip}:${POOL_MANAGERD_PORT}`,
        POOL_MANAGERD_TLS_CERT: this.tls.cert,
        POOL_MANAGERD_TLS_KEY: this.tls.key,
        POOL_MANAGERD_TLS_CA: this.tls.ca,
        POOL_MANAGERD_WATCH_INTERVAL_MS: '200',
        POOL_MANAGERD_HEALTH_INTERVAL_MS: '500',
      },
    );
    this.proc = proc;
    this.hung = false;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    try {
      await waitFor(
        `pool-managerd of ${this.id} to listen on ${this.url}`,
        () => {
          if (exited) throw new Error(`pool-managerd of ${this.id} exited before listening:\n${proc.output()}`);
          return proc.output().includes('"pool-managerd listening"') ? true : undefined;
        },
        LISTEN_BUDGET_MS,
      );
    } catch (error) {
      await this.stopPoolManagerd('SIGKILL');
      throw error;
    }
  }

  async stopPoolManagerd(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (proc === null) return;
    if (signal === 'SIGKILL') proc.child.kill('SIGKILL');
    else if (this.hung) {
      proc.child.kill('SIGTERM'); // held until it runs again
      proc.child.kill('SIGCONT');
    }
    await stopProcess(proc);
    this.earlierLogs += proc.output();
    this.proc = null;
    this.hung = false;
  }

  hang(): void {
    if (this.proc === null) throw new Error(`pool-managerd of ${this.id} is not running`);
    this.proc.child.kill('SIGSTOP');
    this.hung = true;
  }

  resume(): void {
    this.proc?.child.kill('SIGCONT');
    this.hung = false;
  }

  async partition(how: Fault = 'link'): Promise<void> {
    if (this.faults.has(how)) return;
    this.faults.add(how);
    if (how === 'link') await run('ip', ['-n', this.namespace, 'link', 'set', NODE_IFACE, 'down']);
    else for (const rule of DROP_RULES) await run('ip', ['netns', 'exec', this.namespace, 'iptables', '-I', ...rule]);
  }

  async heal(): Promise<void> {
    if (this.faults.delete('drop'))
      for (const rule of DROP_RULES) await run('ip', ['netns', 'exec', this.namespace, 'iptables', '-D', ...rule]);
    if (this.faults.delete('link')) {
      await run('ip', ['-n', this.namespace, 'link', 'set', NODE_IFACE, 'up']);
      // The link comes back with its address and route; wait until the kernel says it is up again.
      await waitFor(
        `${NODE_IFACE} of ${this.id} up`,
        async () =>
          /state UP|,UP,|<.*\bUP\b.*>/.test(await run('ip', ['-n', this.namespace, 'link', 'show', NODE_IFACE]))
            ? true
            : undefined,
        10_000,
      );
    }
  }

  async enginePids(): Promise<number[]> {
    const dir = join(this.runtimeDir, 'engines');
    const pids: number[] = [];
    for (const name of await handoffsIn(dir)) {
      const handoff = await readHandoff(join(dir, name)).catch(() => undefined);
      if (handoff !== undefined) pids.push(handoff.pid);
    }
    return pids;
  }

  logs(): string {
    const provisioner = this.provisioner?.output() ?? '';
    return this.earlierLogs + (this.proc?.output() ?? '') + (provisioner === '' ? '' : `\n${provisioner}`);
  }

  /** Stop pool-managerd (graceful, then forced); what is left in the namespace the network removal kills. */
  async stop(): Promise<void> {
    if (this.hung) this.resume();
    await this.stopPoolManagerd();
    if (this.provisioner !== null) await stopProcess(this.provisioner);
  }

  /** The pids of pool-managerd and engine-provisioner while they run (for the exit guard). */
  pids(): number[] {
    return [this.proc?.child.pid, this.provisioner?.child.pid].filter((pid) => pid !== undefined);
  }
}
