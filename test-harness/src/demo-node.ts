import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ENGINE_SOURCE } from '@llama-orch/contracts';
import { EngineProvisioner, type BackoffPolicy } from '@llama-orch/provisioning';
import { testEngine } from './engine-fixture.ts';

export interface DemoEngines {
  readonly runtimeDir: string;
  readonly handoffDir: string;
  readonly provisioner: EngineProvisioner;
  readonly cleanup: () => Promise<void>;
}

/**
 * Real demo engines run by engine-provisioner (as a library, as the CLOUD sidecar would) into a temporary
 * runtime directory whose `engines/` pool-managerd can watch.
 */
export async function demoEngines(
  pools: { id: string; slots: number; replicas?: number; ctx?: number }[],
  backoff?: Partial<BackoffPolicy>,
): Promise<DemoEngines> {
  const fixture = await testEngine();
  const runtimeDir = await mkdtemp(join(tmpdir(), 'llorch-runtime-'));
  const handoffDir = join(runtimeDir, 'engines');
  const provisioner = new EngineProvisioner(
    {
      nodeId: 'test',
      cacheDir: fixture.cacheDir,
      handoffDir,
      engine: { source: DEFAULT_ENGINE_SOURCE, device: 'cpu', curl: false },
      pools: pools.map((p) => ({
        id: p.id,
        model: 'demo',
        ctx: p.ctx ?? 512,
        slots: p.slots,
        replicas: p.replicas ?? 1,
      })),
      hfEndpoint: 'https://huggingface.co',
    },
    {
      host: fixture.host,
      env: process.env,
      ...(backoff
        ? { backoff: { initialMs: 1000, maxMs: 5000, stormRestarts: 5, stormWindowMs: 60_000, ...backoff } }
        : {}),
    },
  );
  await provisioner.start();
  return {
    runtimeDir,
    handoffDir,
    provisioner,
    cleanup: async () => {
      await provisioner.stop();
      await rm(runtimeDir, { recursive: true, force: true });
    },
  };
}
