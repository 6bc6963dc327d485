/**
 * One pool-managerd (HOME mode, engine in-process from the shared CPU build) serving one pool of any model, and an
 * orchestratord over it — startCluster with the model as a parameter (startCluster always serves the demo).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEngine } from '../src/engine-fixture.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from '../src/pool-managerd-process.ts';
import { waitForPools } from '../src/wait-for-pools.ts';

export interface ModelCluster {
  readonly node: PoolManagerd;
  readonly orchestrator: Orchestratord;
  readonly url: string;
  readonly cleanup: () => Promise<void>;
}

export interface ModelPool {
  readonly id: string;
  /** A pool config model reference: `demo` or `file:/abs/path.gguf`. */
  readonly model: string;
  readonly ctx: number;
  readonly slots: number;
  /** Engines of the pool (absent: one). */
  readonly replicas?: number;
}

export async function startModelCluster(
  pool: ModelPool,
  orchestratorEnv: NodeJS.ProcessEnv = {},
  nodeEnv: NodeJS.ProcessEnv = {},
): Promise<ModelCluster> {
  const fixture = await testEngine();
  const dir = await mkdtemp(join(tmpdir(), 'llorch-bench-'));
  let node: PoolManagerd | null = null;
  let orchestrator: Orchestratord | null = null;
  const cleanup = async (): Promise<void> => {
    await orchestrator?.stop();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const config = join(dir, 'node.yaml');
    await writeFile(
      config,
      [
        'node_id: bench-node',
        `runtime_dir: ${join(dir, 'run')}`,
        `cache_dir: ${fixture.cacheDir}`,
        'engine: { device: cpu }',
        'pools:',
        `  - { id: ${pool.id}, model: "${pool.model}", ctx: ${pool.ctx}, slots: ${pool.slots}${pool.replicas === undefined ? '' : `, replicas: ${pool.replicas}`} }`,
        '',
      ].join('\n'),
    );
    node = await startPoolManagerd({ ...nodeEnv, LLORCH_CONFIG: config }, 180_000);
    orchestrator = await startOrchestratord({ ORCHD_POOL_MANAGERS: node.url, ...orchestratorEnv });
    // Every engine up (slots_total counts the healthy replicas' slots), not only the first.
    const slots = pool.slots * (pool.replicas ?? 1);
    await waitForPools(
      orchestrator.url,
      {},
      (pools) => pools.some((p) => p.ready && p.slots_total === slots),
      'the pool ready',
      300_000,
      'bench',
    );
    return { node, orchestrator, url: orchestrator.url, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
