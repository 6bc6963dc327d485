/**
 * startNetCluster: the network, the CA, the nodes and the orchestratord replicas of one test cluster, with one
 * stop() that removes all of it (also when start-up fails half way) and an exit guard for a run that dies first.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PoolStatus } from '@llama-orch/contracts';
import { startDnsServer, type TestDnsServer } from '../dns-server.ts';
import { testEngine } from '../engine-fixture.ts';
import { waitForPools } from '../wait-for-pools.ts';
import { ClusterCa, POOLS_DNS_NAME } from './certs.ts';
import { onExit } from './exit-guard.ts';
import { netnsUnavailable } from './host.ts';
import { ClusterNetwork } from './network.ts';
import { ClusterNode } from './node.ts';
import { ClusterOrchestratord } from './orchestrator.ts';
import type { NetCluster, NetClusterOptions, NodeSpec } from './types.ts';

/** How long every pool of a fresh cluster may take to be ready in every replica (engines start on 2 cores). */
export const READY_BUDGET_MS = 180_000;
const NODE_ID = /^[a-z0-9-]{1,20}$/;
const DEFAULT_POLL_MS = 500;
/**
 * orchestratord's own default. At 1000 ms a CI run on a loaded 2-core machine once saw a node stall that long (poll and
 * stream both silent, on a node nothing was done to), and the stream through it was cut as a lost node's
 * (cancel.feature:53).
 */
const DEFAULT_REQUEST_TIMEOUT_MS = 2000;

function checkOptions(options: NetClusterOptions): void {
  const orchestrators = options.orchestrators ?? 1;
  if (options.nodes.length < 1 || options.nodes.length > 3) throw new Error('a cluster has 1..3 nodes');
  if (!Number.isInteger(orchestrators) || orchestrators < 1 || orchestrators > 3)
    throw new Error('a cluster has 1..3 orchestratord replicas');
  const ids = options.nodes.map((n) => n.id);
  if (new Set(ids).size !== ids.length) throw new Error(`node ids repeat: ${ids.join(', ')}`);
  for (const node of options.nodes) checkNode(node);
}

function checkNode(node: NodeSpec): void {
  if (!NODE_ID.test(node.id)) throw new Error(`node id "${node.id}": a-z, 0-9 and -, at most 20 characters`);
  if (node.pools.length === 0) throw new Error(`node ${node.id} has no pool`);
}

class Cluster implements NetCluster {
  readonly apiKey = `client-${randomBytes(12).toString('hex')}`;
  readonly adminKey = `admin-${randomBytes(12).toString('hex')}`;
  readonly auth: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
  readonly nodes: ClusterNode[] = [];
  readonly orchestrators: ClusterOrchestratord[] = [];
  readonly pollIntervalMs: number;
  readonly requestTimeoutMs: number;
  private network: ClusterNetwork | null = null;
  private ca: ClusterCa | null = null;
  private dns: TestDnsServer | null = null;
  private readonly dnsMembers = new Set<string>();
  private stopping: Promise<void> | null = null;
  private readonly unguard: () => void;

  readonly caDir: string;
  private readonly options: NetClusterOptions;
  private readonly dir: string;
  private readonly cacheDir: string;

  constructor(options: NetClusterOptions, dir: string, caDir: string, cacheDir: string) {
    this.options = options;
    this.dir = dir;
    this.caDir = caDir;
    this.cacheDir = cacheDir;
    this.pollIntervalMs = Number(options.orchestratordEnv?.['ORCHD_POOL_POLL_INTERVAL_MS'] ?? DEFAULT_POLL_MS);
    this.requestTimeoutMs = Number(
      options.orchestratordEnv?.['ORCHD_POOL_REQUEST_TIMEOUT_MS'] ?? DEFAULT_REQUEST_TIMEOUT_MS,
    );
    this.unguard = onExit(() => this.killSync());
  }

  get url(): string {
    const first = this.orchestrators[0];
    if (first === undefined) throw new Error('the cluster has no orchestratord');
    return first.url;
  }

  node(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}; nodes: ${this.nodes.map((n) => n.id).join(', ')}`);
    return node;
  }

  async init(): Promise<void> {
    this.network = await ClusterNetwork.create();
    const ca = await ClusterCa.create(this.caDir);
    this.ca = ca;
    const discovery = this.options.discovery ?? 'static';
    if (discovery === 'dns') this.dns = await startDnsServer();
    await Promise.all(this.options.nodes.map((spec) => this.addNode(spec)));
    const order = this.options.nodes.map((n) => n.id);
    this.nodes.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id)); // started together, listed as asked
    const client = await ca.client('orchestratord');
    const env: Record<string, string> = {
      ORCHD_PROFILE: 'cloud',
      ORCHD_TLS_CERT: client.cert,
      ORCHD_TLS_KEY: client.key,
      ORCHD_TLS_CA: client.ca,
      ORCHD_API_KEYS: `${this.apiKey} client,${this.adminKey} admin`,
      ORCHD_POOL_POLL_INTERVAL_MS: String(DEFAULT_POLL_MS),
      ORCHD_POOL_REQUEST_TIMEOUT_MS: String(DEFAULT_REQUEST_TIMEOUT_MS),
      ...(this.dns === null
        ? { ORCHD_POOL_MANAGERS: this.nodes.map((n) => n.url).join(',') }
        : { ORCHD_POOL_MANAGERS_DNS: POOLS_DNS_NAME, ORCHD_DNS_SERVERS: this.dns.address }),
      ...this.options.orchestratordEnv,
    };
    for (let i = 0; i < (this.options.orchestrators ?? 1); i += 1)
      this.orchestrators.push(await ClusterOrchestratord.start(env));
    if (this.options.waitReady ?? true) {
      const expected = this.nodes.reduce((sum, n) => sum + n.spec.pools.length, 0);
      for (const replica of this.orchestrators.keys())
        await this.waitForPools(
          (pools) => pools.filter((p) => p.ready).length === expected,
          `all ${expected} pools ready`,
          READY_BUDGET_MS,
          replica,
        );
    }
  }

  async addNode(spec: NodeSpec): Promise<ClusterNode> {
    checkNode(spec);
    if (this.nodes.some((n) => n.id === spec.id)) throw new Error(`node ${spec.id} exists already`);
    const network = this.network;
    const ca = this.ca;
    if (network === null || ca === null) throw new Error('the cluster is not started');
    const index = this.nextIndex;
    this.nextIndex += 1;
    const net = await network.addNode(spec.id, index);
    const node = await ClusterNode.start(spec, net, this.dir, ca, this.cacheDir);
    this.nodes.push(node);
    if (this.dns !== null) {
      this.dnsMembers.add(spec.id);
      this.publish();
    }
    return node;
  }

  /** The veth number and IP of the next node: never reused, also after a node failed to start. */
  private nextIndex = 0;

  removeFromDns(id: string): void {
    if (this.dns === null) throw new Error('removeFromDns: this cluster uses static discovery');
    this.node(id);
    this.dnsMembers.delete(id);
    this.publish();
  }

  private publish(): void {
    const ips = this.nodes.filter((n) => this.dnsMembers.has(n.id)).map((n) => n.ip);
    this.dns?.setZone({ a: { [POOLS_DNS_NAME]: ips } });
  }

  async waitForPools(
    predicate: (pools: PoolStatus[]) => boolean,
    what: string,
    budgetMs: number,
    replica = 0,
  ): Promise<PoolStatus[]> {
    const orchestrator = this.orchestrators[replica];
    if (orchestrator === undefined) throw new Error(`no orchestratord replica ${replica}`);
    return waitForPools(orchestrator.url, this.auth, predicate, what, budgetMs, `replica ${replica}`);
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    await Promise.allSettled(this.orchestrators.map((o) => o.stop()));
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    await this.dns?.close().catch(() => undefined);
    this.network?.remove();
    rmSync(this.dir, { recursive: true, force: true });
    this.unguard();
  }

  /** The exit guard: kill our processes, remove the network and the temp dir, synchronously. */
  private killSync(): void {
    for (const pid of [...this.orchestrators.map((o) => o.pid()), ...this.nodes.flatMap((n) => n.pids())]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    this.network?.remove();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startNetCluster(options: NetClusterOptions): Promise<NetCluster> {
  checkOptions(options);
  const unavailable = await netnsUnavailable();
  if (unavailable !== null) throw new Error(`startNetCluster: ${unavailable}`);
  const fixture = await testEngine();
  const dir = await mkdtemp(join(tmpdir(), 'llorch-netns-'));
  const caDir = join(dir, 'ca');
  await mkdir(caDir);
  const cluster = new Cluster(options, dir, caDir, fixture.cacheDir);
  try {
    await cluster.init();
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
