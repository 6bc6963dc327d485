/**
 * The engines' own load, sampled inside each node's namespace, and the nodes' handoffs and dispatch counters, for
 * the CLOUD step files. Registers no steps.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Handoff } from '@llama-orch/contracts';
import type { NetNode } from '../../../src/netns/index.ts';
import { waitFor } from '../../../src/processes.ts';
import type { ClusterWorld } from './world.ts';
import { ANSWER_MS, clusterOf } from './cloud-helpers.ts';
import { sumMatching } from './prometheus-text.ts';
import { clusterClient, nodeGet } from './node-tls.ts';

export interface EngineLoad {
  slots: number;
  samples: number;
  failures: number;
  maxProcessing: number;
  maxDeferred: number;
}

/** The sampler that runs inside a namespace: each engine's /slots and /metrics, one JSON line per look. */
export const SAMPLER = `
const urls = process.env.ENGINE_URLS.split(',');
const gauge = (text, name) => Number(new RegExp('^llamacpp:' + name + ' (\\\\S+)$', 'm').exec(text)?.[1] ?? NaN);
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
(async () => {
  while (!stopping) {
    await Promise.all(urls.map(async (url) => {
      try {
        const signal = AbortSignal.timeout(5000);
        const [slots, metrics] = await Promise.all([
          fetch(url + '/slots', { signal }).then((r) => r.json()),
          fetch(url + '/metrics', { signal }).then((r) => r.text()),
        ]);
        const processing = Math.max(slots.filter((s) => s.is_processing).length, gauge(metrics, 'requests_processing'));
        console.log(JSON.stringify({ url, processing, deferred: gauge(metrics, 'requests_deferred') }));
      } catch (error) {
        console.log(JSON.stringify({ url, failed: String(error) }));
      }
    }));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  process.exit(0);
})();
`;

export class EngineSampler {
  readonly loads = new Map<string, EngineLoad>();
  private readonly children: ChildProcess[] = [];

  /** Start one sampler per node, inside its namespace (engines listen on the node's own 127.0.0.1). */
  static async start(nodes: readonly NetNode[]): Promise<EngineSampler> {
    const sampler = new EngineSampler();
    for (const node of nodes) {
      const engines = await handoffsOf(node);
      assert.ok(engines.length > 0, `node ${node.id} has no engine handoff`);
      for (const e of engines)
        sampler.loads.set(e.url, { slots: e.slots_total, samples: 0, failures: 0, maxProcessing: 0, maxDeferred: 0 });
      const child = spawn('ip', ['netns', 'exec', node.namespace, process.execPath, '-e', SAMPLER], {
        env: { ...process.env, ENGINE_URLS: engines.map((e) => e.url).join(',') },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let pending = '';
      child.stdout.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) sampler.record(line);
      });
      sampler.children.push(child);
    }
    await waitFor(
      'the engine sampler to look at every engine once',
      () => ([...sampler.loads.values()].every((l) => l.samples > 0) ? true : undefined),
      ANSWER_MS,
    );
    return sampler;
  }

  private record(line: string): void {
    const seen = JSON.parse(line) as { url: string; processing?: number; deferred?: number; failed?: string };
    const load = this.loads.get(seen.url);
    if (load === undefined) return;
    if (seen.failed !== undefined || seen.processing === undefined || seen.deferred === undefined) {
      load.failures += 1;
      return;
    }
    load.samples += 1;
    load.maxProcessing = Math.max(load.maxProcessing, seen.processing);
    load.maxDeferred = Math.max(load.maxDeferred, Number.isNaN(seen.deferred) ? Infinity : seen.deferred);
  }

  stop(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}

/** The handoff files of a node's engines (its desired state, written by the provisioner). */
export async function handoffsOf(node: NetNode): Promise<Handoff[]> {
  const dir = join(node.runtimeDir, 'engines');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as Handoff));
}

/** pool_dispatch_total{outcome="ok"} of every node, read over mutual TLS with a cluster client certificate. */
export async function nodesDispatchedOk(world: ClusterWorld): Promise<number> {
  const client = await clusterClient(world);
  let sum = 0;
  for (const node of clusterOf(world).nodes) {
    const answer = await nodeGet(`${node.url}/metrics`, client);
    assert.ok('status' in answer && answer.status === 200, `GET ${node.url}/metrics: ${JSON.stringify(answer)}`);
    sum += sumMatching(answer.body, 'pool_dispatch_total', { outcome: 'ok' });
  }
  return sum;
}
