import { PoolHealthSchema, PoolListSchema, validate, type PoolStatus } from '@llama-orch/contracts';
import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { table } from './output.ts';

const gib = (bytes: number | null): string => (bytes === null ? '-' : `${(bytes / 1024 ** 3).toFixed(1)}G`);

export function statusTable(pools: readonly PoolStatus[], queueDepth: number): string {
  const rows = [['NODE', 'POOL', 'STATE', 'SLOTS (busy/total)', 'VRAM free/total', 'DEVICE', 'MODEL']];
  for (const p of pools) {
    rows.push([
      p.node_id,
      p.pool_id,
      p.state,
      `${p.slots_total - p.slots_free}/${p.slots_total}`,
      `${gib(p.vram_free_bytes)}/${gib(p.vram_total_bytes)}`,
      p.device,
      p.model,
    ]);
  }
  return `${table(rows)}\nqueue depth: ${queueDepth}\n`;
}

function authHeaders(env: LlorchEnv): Record<string, string> {
  return env.apiKey === undefined ? {} : { authorization: `Bearer ${env.apiKey}` };
}

/**
 * The depth of orchestratord's admission queue, from the `metrics.queue_depth` of a pool's health answer (the
 * queue is orchestratord's, so any pool tells it); 0 when there is no pool to ask.
 */
async function queueDepthOf(env: LlorchEnv, pools: readonly PoolStatus[]): Promise<number> {
  const pool = pools[0];
  if (pool === undefined) return 0;
  const answer = await request(`${env.url}/v2/pools/${encodeURIComponent(pool.pool_id)}/health`, {
    headers: authHeaders(env),
  });
  const checked = validate(PoolHealthSchema, await answer.body.json().catch(() => null));
  if (answer.statusCode !== 200 || !checked.ok)
    throw new Error(`GET /v2/pools/${pool.pool_id}/health answered HTTP ${answer.statusCode}`);
  return checked.value.metrics.queue_depth;
}

/** `llorch status [--json]`: pools, slots, VRAM and the queue as orchestratord sees them. */
export async function status(env: LlorchEnv, json: boolean): Promise<number> {
  let pools: PoolStatus[];
  let queueDepth: number;
  try {
    const answer = await request(`${env.url}/v2/pools`, { headers: authHeaders(env) });
    const checked = validate(PoolListSchema, await answer.body.json());
    if (answer.statusCode !== 200 || !checked.ok) throw new Error(`HTTP ${answer.statusCode}`);
    pools = checked.value.pools;
    queueDepth = await queueDepthOf(env, pools);
  } catch (error) {
    process.stderr.write(
      `llorch status: orchestratord at ${env.url} does not answer (${(error as Error).message}); is \`npm start\` running? (LLORCH_URL sets another)\n`,
    );
    return 1;
  }
  if (json) process.stdout.write(`${JSON.stringify({ url: env.url, queue_depth: queueDepth, pools }, null, 2)}\n`);
  else process.stdout.write(statusTable(pools, queueDepth));
  return 0;
}

export { authHeaders };
