import type { PoolList, PoolStatus } from '@llama-orch/contracts';
import { jsonRequest } from './http-json.ts';
import { waitFor } from './processes.ts';

/**
 * Poll an orchestratord's GET /v2/pools until `predicate` holds, within `budgetMs`; on timeout the error names
 * `where` and the pools last seen.
 */
export async function waitForPools(
  url: string,
  headers: Record<string, string>,
  predicate: (pools: PoolStatus[]) => boolean,
  what: string,
  budgetMs: number,
  where: string,
): Promise<PoolStatus[]> {
  let seen = 'no answer yet';
  try {
    return await waitFor(
      what,
      async () => {
        const answer = await jsonRequest<PoolList>(`${url}/v2/pools`, { headers, timeoutMs: 5_000 }).catch(
          (error: unknown) => ({ status: 0, body: { pools: [] }, error }),
        );
        if (answer.status !== 200) return undefined;
        const pools = answer.body.pools;
        seen = pools.map((p) => `${p.pool_id}@${p.node_id}:${p.ready ? 'ready' : p.state}`).join(', ');
        return predicate(pools) ? pools : undefined;
      },
      budgetMs,
      50,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message} (${where}; last seen: ${seen})`, { cause: error });
  }
}
