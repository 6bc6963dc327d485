/**
 * The shared CPU llama-server and demo model every real-engine test uses. Built once per machine from the
 * pinned npm bundle into ~/.cache/llama-orch (or $LLORCH_TEST_CACHE_DIR), outside the repo; later runs and
 * concurrent test files reuse it (the build holds a lock).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ENGINE_SOURCE } from '@llama-orch/contracts';
import {
  buildPlan,
  detectHostFacts,
  ensureEngine,
  ensureModel,
  type EngineBinary,
  type HostFacts,
  type Plan,
  type ProvisionTarget,
} from '@llama-orch/provisioning';

export interface TestEngine {
  readonly cacheDir: string;
  readonly engine: EngineBinary;
  readonly demoModel: string;
  readonly sourceDir: string;
  readonly host: HostFacts;
  readonly plan: Plan;
}

export function testCacheDir(): string {
  return process.env['LLORCH_TEST_CACHE_DIR'] ?? join(homedir(), '.cache', 'llama-orch');
}

let shared: Promise<TestEngine> | null = null;

async function prepare(): Promise<TestEngine> {
  const cacheDir = testCacheDir();
  const host = await detectHostFacts(process.env);
  const target: ProvisionTarget = {
    nodeId: 'test',
    cacheDir,
    handoffDir: join(cacheDir, 'unused-handoffs'),
    engine: { source: DEFAULT_ENGINE_SOURCE, device: 'cpu', curl: false },
    pools: [{ id: 'demo', model: 'demo', ctx: 1024, slots: 2, replicas: 1 }],
    hfEndpoint: 'https://huggingface.co',
  };
  const plan = buildPlan(target, host);
  let last = -10;
  const engine = await ensureEngine(plan, cacheDir, host, {
    onProgress: (phase, percent) => {
      if (percent !== null && percent >= last + 10) {
        last = percent;
        process.stderr.write(`# llama.cpp ${phase} ${percent}% (once per machine; cached in ${cacheDir})\n`);
      }
    },
  });
  const sourceDir = plan.source.sourceDir ?? '';
  const location = plan.pools[0]?.model;
  if (location === undefined) throw new Error('the fixture plan has no pool');
  const demo = await ensureModel(location, { vocabSourceDir: () => Promise.resolve(sourceDir) });
  return { cacheDir, engine, demoModel: demo.path, sourceDir, host, plan };
}

/** The shared engine and demo model, built or taken from the cache. */
export function testEngine(): Promise<TestEngine> {
  shared ??= prepare();
  return shared;
}
