import type { PoolStatus } from '@llama-orch/contracts';

/** One pool of a node; its model is always the demo model. */
export interface PoolSpec {
  readonly id: string;
  readonly slots: number;
  readonly ctx?: number;
}

/** A GPU "node": its own network namespace, IP, runtime dir, certificate and pool-managerd. Ids: a-z0-9-. */
export interface NodeSpec {
  readonly id: string;
  readonly pools: readonly PoolSpec[];
  /**
   * in-process (default): pool-managerd provisions its engines itself (LLORCH_CONFIG), the compose worker's shape.
   * sidecar: `engine-provisioner up` runs beside a watch-only pool-managerd in the node's namespace, the shape of the
   * Kubernetes pod, where a restarted pool-managerd adopts the engines that still run.
   */
  readonly engines?: 'in-process' | 'sidecar';
}

export interface NetClusterOptions {
  /** 1..3 nodes, each in its own netns with its own IP on a test bridge. */
  readonly nodes: readonly NodeSpec[];
  /** 1..3 orchestratord replicas (default 1), CLOUD profile, each on 127.0.0.1:<free port>. */
  readonly orchestrators?: number;
  /** static: ORCHD_POOL_MANAGERS=https://<ip>:9200,...; dns: a harness DNS server (A records of pools.test). */
  readonly discovery?: 'static' | 'dns';
  /** Extra env for every replica (ORCHD_ADMISSION_CAPACITY, _POLICY, ORCHD_POOL_POLL_INTERVAL_MS, OIDC, ...). */
  readonly orchestratordEnv?: Record<string, string>;
  /** Default true: wait until every pool is ready in every replica. */
  readonly waitReady?: boolean;
}

export interface NetNode {
  readonly id: string;
  readonly ip: string;
  readonly namespace: string;
  /** https://<ip>:9200 (mTLS). */
  readonly url: string;
  /** <runtimeDir>/engines holds its handoff files. */
  readonly runtimeDir: string;
  /** Link down (default) or an iptables DROP inside its namespace. */
  partition(how?: 'link' | 'drop'): Promise<void>;
  heal(): Promise<void>;
  /** SIGSTOP its pool-managerd (connections stay open, nothing answers). */
  hang(): void;
  /** SIGCONT. */
  resume(): void;
  stopPoolManagerd(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Same dirs, certs and IP: the registry rebuilt from handoffs. */
  startPoolManagerd(): Promise<void>;
  /** Pids of its engines (from its handoff files). */
  enginePids(): Promise<number[]>;
  /** pool-managerd output so far. */
  logs(): string;
}

export interface NetOrchestratord {
  readonly url: string;
  logs(): string;
  /** SIGTERM, then SIGKILL after a grace period: open streams get their terminal event first. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crash): open streams are cut. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface NetCluster {
  readonly nodes: readonly NetNode[];
  readonly orchestrators: readonly NetOrchestratord[];
  /** orchestrators[0].url */
  readonly url: string;
  /** Client key (role client); every replica accepts it. */
  readonly apiKey: string;
  /** Role admin. */
  readonly adminKey: string;
  /** { authorization: `Bearer ${apiKey}` } */
  readonly auth: Record<string, string>;
  /** The cluster CA (ca.crt, ca.key) and issued certs, for mTLS scenarios. */
  readonly caDir: string;
  /** ORCHD_POOL_POLL_INTERVAL_MS used (default 500). */
  readonly pollIntervalMs: number;
  /** ORCHD_POOL_REQUEST_TIMEOUT_MS used (default 2000, orchestratord's own). */
  readonly requestTimeoutMs: number;
  node(id: string): NetNode;
  /** Polls GET /v2/pools of a replica (default 0) until `predicate` holds; fails after `budgetMs` naming `what`. */
  waitForPools(
    predicate: (pools: PoolStatus[]) => boolean,
    what: string,
    budgetMs: number,
    replica?: number,
  ): Promise<PoolStatus[]>;
  /** A new namespace+node; with dns discovery it joins the records. */
  addNode(spec: NodeSpec): Promise<NetNode>;
  /** dns discovery only. */
  removeFromDns(id: string): void;
  /** Everything it made, idempotent. */
  stop(): Promise<void>;
}
