import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HandoffSchema, parseModelRef, PoolListSchema, validate, type PoolStatus } from '@llama-orch/contracts';
import { modelLocation } from '@llama-orch/provisioning';
import { request } from 'undici';
import type { LlorchEnv } from '../../config.ts';
import { commandEnv, type CommandEnv } from '../command-env.ts';
import { table, terminal } from '../output.ts';
import { authHeaders } from '../status.ts';
import { cachedModels, cacheSetup, humanBytes, tildePath, type CacheSetup } from './model-cache.ts';

export interface ModelsOptions {
  readonly config: string | undefined;
  readonly json: boolean;
}

/** A configured model: a pool, its model, the file that holds it and the pool's state. */
export interface PoolModel {
  readonly pool_id: string;
  readonly model: string;
  /** As orchestratord reports it; `not running` for a pool of the config that it does not know. */
  readonly state: string;
  readonly device: string | null;
  readonly node_id: string | null;
  readonly file: string | null;
  /** null: the file is not there (not downloaded yet). */
  readonly size_bytes: number | null;
}

async function sizeOf(file: string | null): Promise<number | null> {
  if (file === null) return null;
  const info = await stat(file).catch(() => null);
  return info?.isFile() === true ? info.size : null;
}

/** The pools orchestratord serves, or null when it does not answer. */
async function runningPools(env: LlorchEnv): Promise<PoolStatus[] | null> {
  try {
    const answer = await request(`${env.url}/v2/pools`, {
      headers: authHeaders(env),
      signal: AbortSignal.timeout(5_000),
    });
    const list = validate(PoolListSchema, await answer.body.json().catch(() => null));
    return answer.statusCode === 200 && list.ok ? list.value.pools : null;
  } catch {
    return null;
  }
}

/** The model file of each running pool, from the HOME tree's handoff files (`<state dir>/engines/*.json`). */
async function handoffFiles(stateDir: string): Promise<Map<string, string>> {
  const dir = join(stateDir, 'engines');
  const files = new Map<string, string>();
  for (const name of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'))) {
    const handoff = validate(HandoffSchema, JSON.parse(await readFile(join(dir, name), 'utf8').catch(() => 'null')));
    if (handoff.ok) files.set(handoff.value.pool_id, handoff.value.model.path);
  }
  return files;
}

/** Where a model reference lives once fetched (null for the demo model: its name depends on the engine source). */
function configuredFile(model: string, setup: CacheSetup, vars: CommandEnv): string | null {
  const ref = parseModelRef(model);
  if (!ref.ok || ref.value.kind === 'demo') return null;
  return modelLocation(ref.value, setup.cacheDir, '', vars.hfEndpoint).path;
}

async function poolModels(
  running: readonly PoolStatus[],
  handoffs: ReadonlyMap<string, string>,
  setup: CacheSetup,
  vars: CommandEnv,
): Promise<PoolModel[]> {
  const rows: PoolModel[] = [];
  for (const p of running) {
    const file = handoffs.get(p.pool_id) ?? configuredFile(p.model, setup, vars);
    rows.push({
      pool_id: p.pool_id,
      model: p.model,
      state: p.state,
      device: p.device,
      node_id: p.node_id,
      file,
      size_bytes: await sizeOf(file),
    });
  }
  for (const pool of setup.config?.pools ?? []) {
    if (running.some((p) => p.pool_id === pool.id)) continue;
    const file = configuredFile(pool.model, setup, vars);
    rows.push({
      pool_id: pool.id,
      model: pool.model,
      state: 'not running',
      device: null,
      node_id: null,
      file,
      size_bytes: await sizeOf(file),
    });
  }
  return rows;
}

/**
 * `llorch models`: the configured models with their pools, files, sizes and state — what orchestratord serves
 * (files from the HOME tree's handoffs) and the pools of the node config that are not running — then every
 * model in the cache and which pools use it.
 */
export async function models(env: LlorchEnv, options: ModelsOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  const vars = commandEnv(env);
  if (!vars.ok) {
    stderr.write(`llorch models: ${vars.message}\n`);
    return 2;
  }
  const setup = await cacheSetup(vars.value, options.config ?? env.poolConfig);
  if (!setup.ok) {
    stderr.write(`llorch models: ${setup.message}\n`);
    return 2;
  }
  const running = await runningPools(env);
  const pools = await poolModels(running ?? [], await handoffFiles(env.stateDir), setup.value, vars.value);
  const cache = (await cachedModels(setup.value.cacheDir)).map((m) => ({
    ...m,
    pools: pools.filter((p) => p.file === m.file).map((p) => p.pool_id),
  }));
  if (options.json) {
    stdout.write(
      `${JSON.stringify(
        {
          url: env.url,
          orchestratord: running !== null,
          config: setup.value.configFile,
          pools,
          cache: {
            dir: setup.value.cacheDir,
            models: cache.map((m) => ({ ref: m.ref, file: m.file, size_bytes: m.sizeBytes, pools: m.pools })),
          },
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const lines: string[] = [];
  if (running === null)
    lines.push(`orchestratord at ${env.url} does not answer: the states below are the config's, not a running tree's.`);
  if (pools.length > 0) {
    lines.push(
      table([
        ['POOL', 'MODEL', 'STATE', 'DEVICE', 'SIZE', 'FILE'],
        ...pools.map((p) => [
          p.pool_id,
          p.model,
          p.state,
          p.device ?? '-',
          p.size_bytes === null ? (p.file === null ? '-' : 'not downloaded') : humanBytes(p.size_bytes),
          p.file === null ? '-' : tildePath(p.file),
        ]),
      ]),
    );
  } else lines.push('No pools: start one with `npx llorch home --model <ref>` or name a config with --config.');
  lines.push('', `In the cache (${tildePath(join(setup.value.cacheDir, 'models'))}):`);
  if (cache.length === 0) lines.push('  nothing yet: `npx llorch pull hf:<org>/<repo>/<file.gguf>` downloads a model');
  else
    lines.push(
      table([
        ['MODEL', 'SIZE', 'USED BY', 'FILE'],
        ...cache.map((m) => [
          m.ref ?? '(https download)',
          humanBytes(m.sizeBytes),
          m.pools.length > 0 ? m.pools.join(',') : '-',
          tildePath(m.file),
        ]),
      ])
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
