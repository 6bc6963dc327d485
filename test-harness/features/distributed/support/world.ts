/**
 * The World of the distributed suite: one netns cluster per scenario (started by a Given step, stopped by the After
 * hook), the tasks a scenario submitted and followed, and the last HTTP answer. Steps that configure the cluster
 * (`orchestratord is configured with …`, `… orchestratord replicas`) come before the step that starts it.
 *
 * Steps name tasks by the feature's short logical ids ("hog", "order"), and the World's records are keyed by them;
 * on the wire (bodies, `/v2/tasks/<id>/…` URLs, ids in answers) a task is `wireId(logical)`, unique per scenario:
 * orchestratord remembers finished tasks by id (ORCH-4061), and the compose stack outlives scenarios.
 */
import { randomInt } from 'node:crypto';
import { World, type IWorldOptions } from '@cucumber/cucumber';
import type { JsonAnswer } from '../../../src/http-json.ts';
import { startNetCluster, type NetCluster, type NetClusterOptions, type NodeSpec } from '../../../src/netns/index.ts';
import type { Followed, SseEvent } from '../../../src/sse.ts';
import { attachCompose, composeTarget } from './compose-target.ts';

export interface TaskRecord {
  /** The background follow of its events (started by `I follow the events of task …`). */
  followed?: Promise<Followed>;
  /** Its events so far, in order. */
  events: SseEvent[];
  /** The answer to its submission. */
  admission?: JsonAnswer<unknown>;
}

/** Base36 characters of a scenario's nonce: short, so that every wire id stays well within ClientIdSchema's 128. */
const NONCE_CHARS = 6;
const NONCE_RANGE = 36 ** NONCE_CHARS;

export class ClusterWorld extends World {
  /** This scenario's suffix of every task id it sends (`[0-9a-z]{6}`). */
  readonly nonce = randomInt(NONCE_RANGE).toString(36).padStart(NONCE_CHARS, '0');
  cluster: NetCluster | undefined = undefined;
  readonly tasks = new Map<string, TaskRecord>();
  last: JsonAnswer<unknown> | undefined = undefined;
  /** Why this scenario cannot run here (no root, no `ip`), or null. */
  skipReason: string | null = null;
  /** Extra orchestratord environment for the cluster the scenario starts. */
  orchestratordEnv: Record<string, string> = {};
  /** orchestratord replicas of the cluster the scenario starts. */
  orchestrators = 1;
  /** How orchestratord finds the nodes of the cluster the scenario starts. */
  discovery: 'static' | 'dns' = 'static';

  constructor(options: IWorldOptions) {
    super(options);
  }

  /**
   * Start the scenario's cluster with these nodes and what earlier steps configured (`options` wins); one cluster
   * per scenario. Under the compose target it attaches to the running stack instead, whose shape is its own.
   */
  async startCluster(nodes: readonly NodeSpec[], options: Partial<NetClusterOptions> = {}): Promise<NetCluster> {
    if (this.cluster !== undefined) throw new Error('this scenario started its cluster already');
    if (composeTarget) {
      const env = { ...this.orchestratordEnv, ...options.orchestratordEnv };
      if (Object.keys(env).length > 0 || this.orchestrators !== 1 || this.discovery !== 'static')
        throw new Error('the compose stack cannot be configured by a scenario (settings, replicas, DNS discovery)');
      this.cluster = await attachCompose();
      return this.cluster;
    }
    this.cluster = await startNetCluster({
      nodes,
      orchestrators: this.orchestrators,
      discovery: this.discovery,
      ...options,
      orchestratordEnv: { ...this.orchestratordEnv, ...options.orchestratordEnv },
    });
    return this.cluster;
  }

  /** The scenario's cluster; fails the step when no Given step started one. */
  get running(): NetCluster {
    if (this.cluster === undefined) throw new Error('no cluster: a Given step starts one first');
    return this.cluster;
  }

  /** The id a task the steps call `logical` has on the wire in this scenario. */
  wireId(logical: string): string {
    return `${logical}-${this.nonce}`;
  }

  /** The task record of `id` (a logical id), made on first use. */
  task(id: string): TaskRecord {
    let record = this.tasks.get(id);
    if (record === undefined) {
      record = { events: [] };
      this.tasks.set(id, record);
    }
    return record;
  }
}
