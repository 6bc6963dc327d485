import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { AdmissionResponse, ErrorEnvelope, PoolList } from '@llama-orch/contracts';
import { request } from 'undici';
import type { DaemonProcess } from '../src/daemon-process.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { startPrometheus, type PrometheusServer, type Sample } from '../src/prometheus.ts';
import { followEvents, summarize } from '../src/sse.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = ['recording.rules.yml', 'alerting.rules.yml'].map((f) => join(ROOT, 'deploy', 'prometheus', 'rules', f));
const DASHBOARD = join(ROOT, 'deploy', 'prometheus', 'grafana', 'llama-orch-dashboard.json');
/** How long Prometheus gets to scrape and evaluate what a step changed (1 s scrapes and evaluations). */
const SERIES_BUDGET_MS = 30_000;

/** The URL a daemon logged for its PROMETHEUS_METRICS_PORT listener (port 0 asked: the real one). */
function metricsUrl(daemon: DaemonProcess, name: string): string {
  const line = daemon.proc
    .output()
    .split('\n')
    .find((l) => l.includes(`"${name} metrics listening"`));
  assert.ok(line, `${name} logs where its metrics port listens:\n${daemon.proc.output()}`);
  return (JSON.parse(line) as { url: string }).url;
}

/** Wait until an instant query's answer satisfies `ok`; on timeout, say what Prometheus last answered. */
async function eventually(
  prometheus: PrometheusServer,
  expr: string,
  ok: (samples: Sample[]) => boolean,
  timeoutMs = SERIES_BUDGET_MS,
): Promise<Sample[]> {
  let last: Sample[] = [];
  try {
    return await waitFor(
      expr,
      async () => {
        last = await prometheus.query(expr);
        return ok(last) ? last : undefined;
      },
      timeoutMs,
      250,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; Prometheus last answered ${JSON.stringify(last)}`, { cause: error });
  }
}

const value = (samples: Sample[]): number => samples[0]?.value ?? Number.NaN;
const one = (expected: number) => (samples: Sample[]) => samples.length === 1 && value(samples) === expected;
const atLeast = (min: number) => (samples: Sample[]) => samples.length === 1 && value(samples) >= min;

interface World {
  readonly prometheus: PrometheusServer;
  readonly orchestrator: DaemonProcess;
  readonly node: DaemonProcess;
  readonly orchMetrics: string;
  readonly nodeMetrics: string;
}

describe('the CLOUD spec metrics in a real Prometheus', { timeout: 45 * 60_000 }, () => {
  let world: World | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const w = (): World => {
    assert.ok(world, 'the daemons and Prometheus started');
    return world;
  };

  before(async () => {
    const fixture = await testEngine();
    const dir = await mkdtemp(join(tmpdir(), 'llorch-metrics-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'node.yaml');
    await writeFile(
      config,
      [
        'node_id: metrics-node',
        `runtime_dir: ${join(dir, 'run')}`,
        `cache_dir: ${fixture.cacheDir}`,
        'engine: { device: cpu }',
        'pools:',
        '  - { id: demo, model: demo, ctx: 16384, slots: 1 }',
        '',
      ].join('\n'),
    );
    const node = await startPoolManagerd({ LLORCH_CONFIG: config, PROMETHEUS_METRICS_PORT: '0' });
    cleanups.push(() => node.stop());
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: node.url,
      ORCHD_ADMISSION_CAPACITY: '3',
      PROMETHEUS_METRICS_PORT: '0',
    });
    cleanups.push(() => orchestrator.stop());
    const orchMetrics = metricsUrl(orchestrator, 'orchestratord');
    const nodeMetrics = metricsUrl(node, 'pool-managerd');
    await waitFor(
      'the demo pool ready in orchestratord',
      async () => {
        const pools = (await jsonRequest<PoolList>(`${orchestrator.url}/v2/pools`)).body.pools;
        return pools.some((p) => p.pool_id === 'demo' && p.ready) ? true : undefined;
      },
      120_000,
    );
    const target = (url: string): string => new URL(url).host;
    const prometheus = await startPrometheus(
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'rule_files:',
        ...RULES.map((file) => `  - ${JSON.stringify(file)}`),
        'scrape_configs:',
        '  - job_name: orchestratord',
        `    static_configs: [{ targets: ['${target(orchMetrics)}'] }]`,
        '  - job_name: pool-managerd',
        `    static_configs: [{ targets: ['${target(nodeMetrics)}'] }]`,
        '',
      ].join('\n'),
    );
    cleanups.unshift(() => prometheus.stop());
    world = { prometheus, orchestrator, node, orchMetrics, nodeMetrics };
  });

  after(async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  });

  test('serves /metrics alone on PROMETHEUS_METRICS_PORT of each daemon, and Prometheus scrapes both', async () => {
    const { prometheus, orchestrator, orchMetrics, nodeMetrics } = w();
    for (const url of [orchMetrics, nodeMetrics]) {
      const metrics = await request(url);
      assert.equal(metrics.statusCode, 200);
      assert.match(String(metrics.headers['content-type']), /^text\/plain/);
      assert.match(await metrics.body.text(), /^# HELP /m);
      const other = await jsonRequest<ErrorEnvelope>(url.replace(/\/metrics$/, '/v2/pools'));
      assert.equal(other.status, 404, 'the metrics port serves nothing but /metrics');
      assert.equal(other.body.code, 'NOT_FOUND');
    }
    assert.notEqual(new URL(orchMetrics).port, new URL(orchestrator.url).port);
    const targets = await waitFor('both targets up', async () => {
      const list = await prometheus.targets();
      return list.length === 2 && list.every((t) => t.health === 'up') ? list : undefined;
    });
    assert.deepEqual(targets.map((t) => t.job).sort(), ['orchestratord', 'pool-managerd']);
  });

  test('moves the pool health series: polls, their duration, availability, engine checks, readiness, handoffs', async () => {
    const { prometheus } = w();
    await eventually(prometheus, 'orchd_pools_available{pool_id="demo"}', one(1));
    await eventually(prometheus, 'pool_ready{pool_id="demo"}', one(1));
    await eventually(prometheus, 'increase(orchd_pool_health_checks_total{pool_id="demo",outcome="ready"}[10s])', (s) =>
      atLeast(1)(s),
    );
    await eventually(prometheus, 'orchd_pool_health_check_duration_ms_count{pool_id="demo"}', atLeast(2));
    await eventually(prometheus, 'increase(pool_health_checks_total{pool_id="demo",outcome="ok"}[10s])', atLeast(1));
    await eventually(prometheus, 'pool_handoff_processing_duration_ms_count{pool_id="demo"}', atLeast(1));
    await eventually(prometheus, 'pool_id:orchd_pools_available:max{pool_id="demo"}', one(1));
  });

  test('moves the admission and dispatch series while tasks queue, are refused and run', async () => {
    const { prometheus, orchestrator } = w();
    const url = orchestrator.url;
    const post = (body: Record<string, unknown>) =>
      jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, { method: 'POST', body });
    const long = await post({
      task_id: 'm-long',
      model_ref: 'demo',
      prompt: 'Go on:',
      max_tokens: 1_000_000,
      ignore_eos: true,
    });
    assert.equal(long.status, 202, JSON.stringify(long.body));
    await waitFor('the one slot taken', async () => {
      const pools = (await jsonRequest<PoolList>(`${url}/v2/pools`)).body.pools;
      return pools.find((p) => p.pool_id === 'demo')?.slots_free === 0 ? true : undefined;
    });
    for (const id of ['m-1', 'm-2', 'm-3']) {
      const queued = await post({ task_id: id, model_ref: 'demo', prompt: 'Hi', max_tokens: 4 });
      assert.equal(queued.status, 202, JSON.stringify(queued.body));
    }
    const refused = await post({ task_id: 'm-4', model_ref: 'demo', prompt: 'Hi', max_tokens: 4 });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'ADMISSION_REJECT');

    await eventually(prometheus, 'orchd_admission_queue_depth{pool_id="demo"}', one(3));
    await eventually(prometheus, 'instance:orchd_admission_queue:saturation', one(1));
    await eventually(prometheus, 'ALERTS{alertname="LlamaOrchAdmissionQueueSaturated",alertstate="pending"}', one(1));
    await eventually(prometheus, 'orchd_admission_rejected_total{pool_id="demo",reason="ADMISSION_REJECT"}', one(1));
    await eventually(prometheus, 'orchd_admission_enqueued_total{pool_id="demo",outcome="rejected"}', one(1));
    await eventually(prometheus, 'orchd_admission_enqueued_total{pool_id="demo",outcome="admitted"}', one(4));

    assert.equal((await jsonRequest(`${url}/v2/tasks/m-long/cancel`, { method: 'POST' })).status, 204);
    for (const id of ['m-1', 'm-2', 'm-3']) {
      const { events } = await followEvents(`${url}/v2/tasks/${id}/events`);
      assert.equal(events.at(-1)?.event, 'end', summarize(events));
    }
    await eventually(prometheus, 'orchd_admission_queue_depth{pool_id="demo"}', one(0));
    await eventually(prometheus, 'orchd_tasks_dispatched_total{pool_id="demo",outcome="ok"}', one(4));
    // Every answer is timed, also a busy one while the canceled task’s slot is still being freed.
    await eventually(prometheus, 'orchd_dispatch_latency_ms_count{pool_id="demo"}', atLeast(4));
    await eventually(prometheus, 'sum(latency_first_token_ms_count{pool_id="demo"})', one(4));
    await eventually(prometheus, 'pool_dispatch_total{pool_id="demo",outcome="ok"}', atLeast(3));
    await eventually(prometheus, 'pool_id:latency_first_token_ms:p95_rate5m{pool_id="demo"}', (s) => s.length === 1);
    await eventually(prometheus, 'pool_id:orchd_dispatch_errors:ratio_rate5m{pool_id="demo"}', one(0));
  });

  test('shows a drained pool as down: unready polls, available 0, pool_ready 0 and the pool-down alert pending', async () => {
    const { prometheus, node } = w();
    const drained = await jsonRequest(`${node.url}/v2/pools/demo/drain`, {
      method: 'POST',
      body: { deadline_ms: 1000 },
    });
    assert.equal(drained.status, 200, JSON.stringify(drained.body));
    await eventually(prometheus, 'orchd_pools_available{pool_id="demo"}', one(0));
    await eventually(prometheus, 'pool_ready{pool_id="demo"}', one(0));
    await eventually(
      prometheus,
      'increase(orchd_pool_health_checks_total{pool_id="demo",outcome="unready"}[10s])',
      atLeast(1),
    );
    await eventually(prometheus, 'ALERTS{alertname="LlamaOrchPoolDown",pool_id="demo"}', one(1));
  });

  test('evaluates every shipped rule and every dashboard query without an error', async () => {
    const { prometheus } = w();
    const rules = await prometheus.rules();
    assert.ok(rules.length >= 20, `the shipped rules are loaded (${rules.length})`);
    const broken = rules.filter((r) => r.health === 'err');
    assert.deepEqual(broken, [], 'no rule fails to evaluate');
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    assert.ok(queries.length >= 20);
    const empty: string[] = [];
    for (const { title, expr } of queries) {
      const samples = await prometheus.query(expr.replaceAll('$pool', '.*')).catch((error: unknown) => {
        throw new Error(`dashboard panel "${title}": ${(error as Error).message}`);
      });
      if (samples.length === 0) empty.push(title);
    }
    for (const title of [
      'Pools available',
      'Queue depth by pool',
      'Dispatches per second by outcome',
      'Pool ready (pool-managerd)',
    ])
      assert.ok(!empty.includes(title), `panel "${title}" shows data`);
  });
});
