/**
 * The compose target of the distributed suite (`npm run test:bdd -- --profile compose`, which sets
 * LLORCH_BDD_TARGET=compose and LLORCH_BDD_COMPOSE_URL): the cluster steps attach to the running compose stack
 * (`npm run cloud:up`) instead of starting a netns cluster. Its shape is the stack's, not the step's (two pools of
 * two slots); it has no node handles, so a step that needs one fails saying so (such a scenario is not `@cloud`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PoolStatus } from '@llama-orch/contracts';
import type { NetCluster, NetNode } from '../../../src/netns/index.ts';
import { waitForPools as pollPools } from '../../../src/wait-for-pools.ts';

const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));
/** Where cloud.sh writes the stack's keys. */
const STATE_DIR = join(ROOT, '.llorch-cloud');
/** How long the stack's pools may take to be ready when a scenario attaches. */
const READY_BUDGET_MS = 60_000;
/** docker-compose.cloud.yml's ORCHD_POOL_POLL_INTERVAL_MS; ORCHD_POOL_REQUEST_TIMEOUT_MS is its default. */
const POLL_INTERVAL_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;

/** True when this run targets the compose stack. */
export const composeTarget = process.env['LLORCH_BDD_TARGET'] === 'compose';

function noHandles(what: string): never {
  throw new Error(`the compose target has no ${what}: this step needs a netns cluster (the scenario is not @cloud)`);
}

/** Attach to the compose stack at LLORCH_BDD_COMPOSE_URL and wait until every one of its pools is ready. */
export async function attachCompose(): Promise<NetCluster> {
  const url = process.env['LLORCH_BDD_COMPOSE_URL'];
  if (url === undefined || url === '') throw new Error('LLORCH_BDD_COMPOSE_URL is not set (run.ts sets it)');
  const [apiKey, adminKey] = await Promise.all(
    ['api-key', 'admin-key'].map(async (f) => (await readFile(join(STATE_DIR, f), 'utf8')).trim()),
  );
  if (apiKey === undefined || adminKey === undefined) throw new Error(`no keys in ${STATE_DIR}`);
  const auth = { authorization: `Bearer ${apiKey}` };
  const waitForPools = async (
    predicate: (pools: PoolStatus[]) => boolean,
    what: string,
    budgetMs: number,
    replica = 0,
  ): Promise<PoolStatus[]> => {
    if (replica !== 0) noHandles(`replica ${replica}`);
    return pollPools(url, auth, predicate, what, budgetMs, `compose stack ${url}`);
  };
  await waitForPools((pools) => pools.length > 0 && pools.every((p) => p.ready), 'the stack ready', READY_BUDGET_MS);
  return {
    nodes: [],
    orchestrators: [],
    url,
    apiKey,
    adminKey,
    auth,
    caDir: join(STATE_DIR, 'certs'),
    pollIntervalMs: POLL_INTERVAL_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    node: (id: string): NetNode => noHandles(`node handles (node ${id})`),
    waitForPools,
    addNode: () => noHandles('way to add a node'),
    removeFromDns: () => noHandles('DNS discovery'),
    stop: () => Promise.resolve(),
  };
}

/** The pool ids the stack serves, for steps that assert "one of the cluster's pools" under compose. */
export async function composePoolIds(cluster: NetCluster): Promise<string[]> {
  const pools = await cluster.waitForPools(() => true, 'the pools', 10_000);
  return pools.map((p) => p.pool_id);
}
