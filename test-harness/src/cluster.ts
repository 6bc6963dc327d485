import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PoolList } from '@llama-orch/contracts';
import { testEngine } from './engine-fixture.ts';
import { jsonRequest } from './http-json.ts';
import { startOrchestratord, type Orchestratord } from './orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from './pool-managerd-process.ts';
import { waitFor } from './processes.ts';

export interface PoolSpec {
  readonly id: string;
  readonly slots: number;
  readonly ctx?: number;
  /** Engines of the pool (absent: one). */
  readonly replicas?: number;
  /** The pool's kind (absent: completion); every pool serves the demo model, written for its kind. */
  readonly kind?: 'completion' | 'embedding' | 'rerank';
}

export interface Cluster {
  readonly nodes: readonly PoolManagerd[];
  readonly orchestrator: Orchestratord;
  readonly url: string;
  readonly cleanup: () => Promise<void>;
}

/**
 * A real cluster on loopback: one pool-managerd per node (HOME mode, engines in-process from the shared CPU
 * engine and demo model) and one orchestratord polling them. Waits until every pool is ready in orchestratord.
 */
export async function startCluster(
  nodes: readonly (readonly PoolSpec[])[],
  orchestratorEnv: NodeJS.ProcessEnv = {},
  nodeEnv: NodeJS.ProcessEnv = {},
): Promise<Cluster> {
  const fixture = await testEngine();
  const dir = await mkdtemp(join(tmpdir(), 'llorch-cluster-'));
  const managers: PoolManagerd[] = [];
  let orchestrator: Orchestratord | null = null;
  const cleanup = async (): Promise<void> => {
    await orchestrator?.stop();
    await Promise.all(managers.map((m) => m.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, pools] of nodes.entries()) {
      const config = join(dir, `node-${i}.yaml`);
      await writeFile(
        config,
        [
          `node_id: node-${i}`,
          `runtime_dir: ${join(dir, `run-${i}`)}`,
          `cache_dir: ${fixture.cacheDir}`,
          'engine: { device: cpu }',
          'pools:',
          ...pools.map(
            (p) =>
              `  - { id: ${p.id}, model: demo, ctx: ${p.ctx ?? 2048}, slots: ${p.slots}${p.replicas ? `, replicas: ${p.replicas}` : ''}${p.kind ? `, kind: ${p.kind}` : ''} }`,
          ),
          '',
        ].join('\n'),
      );
      managers.push(await startPoolManagerd({ ...nodeEnv, LLORCH_CONFIG: config }));
    }
    orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: managers.map((m) => m.url).join(','),
      ...orchestratorEnv,
    });
    const headers = orchestratorEnv['ORCHD_API_KEYS']
      ? { authorization: `Bearer ${orchestratorEnv['ORCHD_API_KEYS'].split(',')[0] ?? ''}` }
      : undefined;
    const expected = nodes.flat().length;
    const url = orchestrator.url;
    await waitFor(
      'every pool ready in orchestratord',
      async () => {
        const pools = (await jsonRequest<PoolList>(`${url}/v2/pools`, headers ? { headers } : {})).body.pools;
        return pools.filter((p) => p.ready).length === expected ? true : undefined;
      },
      120_000,
    );
    return { nodes: managers, orchestrator, url, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
