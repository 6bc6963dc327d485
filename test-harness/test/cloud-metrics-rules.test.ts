import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { prometheusTools } from '../src/prometheus.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy', 'prometheus');
const RULE_FILES = readdirSync(join(DEPLOY, 'rules'))
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(DEPLOY, 'rules', f));

function promtool(args: readonly string[]): { code: number | null; output: string } {
  const result = spawnSync(args[0] ?? '', args.slice(1), { cwd: DEPLOY, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, output: `${result.stdout}${result.stderr}${result.error?.message ?? ''}` };
}

/** Every metric a daemon registers: the `name: '…'` of each prom-client metric in its metrics.ts. */
function definedMetrics(): Set<string> {
  const names = ['orchestratord', 'pool-managerd'].flatMap((bin) => {
    const text = readFileSync(join(ROOT, 'bin', bin, 'src', 'metrics.ts'), 'utf8');
    return [
      ...[...text.matchAll(/name: '([a-z_:]+)'/g)].map((m) => m[1] ?? ''),
      // pool-managerd's gauges read from the registry at scrape time: gauge('pool_ready', …)
      ...[...text.matchAll(/gauge\('([a-z_]+)'/g)].map((m) => m[1] ?? ''),
    ];
  });
  return new Set(names);
}

/** Metric names a PromQL expression reads (recording-rule names, `up`, `ALERTS` and label names aside). */
function metricsIn(expr: string, recorded: ReadonlySet<string>): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const withoutLabels = withoutStrings.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...withoutLabels.matchAll(/(?<![\w:])([a-z_][a-z0-9_:]*)(?=\s*[{[),]|\s*$|\s*[/*+\-><=!])/g)]
    .map((m) => m[1] ?? '')
    .filter((name) => /^(orchd|pool|tasks|tokens|latency|queue|admission|placement)_/.test(name))
    .filter((name) => !recorded.has(name) && name !== 'pool_id')
    .map((name) => name.replace(/_(bucket|count|sum)$/, ''));
}

describe('the shipped Prometheus rules and dashboard', () => {
  test('pass promtool check rules, and promtool test rules proves each alert fires on its data and only then', async () => {
    const { promtool: tool } = await prometheusTools();
    const check = promtool([tool, 'check', 'rules', ...RULE_FILES]);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /SUCCESS: 8 rules found/);
    const unit = promtool([tool, 'test', 'rules', join(DEPLOY, 'tests', 'alerts.test.yml')]);
    assert.equal(unit.code, 0, unit.output);
    assert.match(unit.output, /SUCCESS/);
  });

  test('ship scrape configurations that promtool accepts, scraping both daemons', async () => {
    const { promtool: tool } = await prometheusTools();
    for (const file of ['prometheus.yml', 'prometheus-static.yml']) {
      const check = promtool([tool, 'check', 'config', join(DEPLOY, file)]);
      assert.equal(check.code, 0, `${file}: ${check.output}`);
      const config = parse(readFileSync(join(DEPLOY, file), 'utf8')) as { scrape_configs: { job_name: string }[] };
      assert.deepEqual(
        config.scrape_configs.map((s) => s.job_name),
        ['orchestratord', 'pool-managerd'],
      );
    }
  });

  test('name only metrics that the daemons define, in the rules and in every dashboard panel', () => {
    const defined = definedMetrics();
    for (const name of [
      'orchd_admission_queue_depth',
      'orchd_pools_available',
      'pool_ready',
      'pool_health_checks_total',
    ])
      assert.ok(defined.has(name), `${name} is found in the daemons' metrics.ts`);
    const groups = RULE_FILES.flatMap(
      (file) =>
        (parse(readFileSync(file, 'utf8')) as { groups: { rules: { record?: string; expr: string }[] }[] }).groups,
    );
    const rules = groups.flatMap((g) => g.rules);
    const recorded = new Set(rules.flatMap((r) => (r.record === undefined ? [] : [r.record])));
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'llama-orch-dashboard.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = [
      ...rules.map((r) => r.expr),
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ];
    const unknown = [...new Set(exprs.flatMap((e) => metricsIn(e, recorded)))].filter(
      (name) => !defined.has(name) && !defined.has(`${name}_total`) && !defined.has(name.replace(/_total$/, '')),
    );
    assert.deepEqual(unknown, [], `names no daemon defines: ${unknown.join(', ')}`);
    const read = new Set(exprs.flatMap((e) => metricsIn(e, recorded)));
    for (const name of ['orchd_admission_queue_depth', 'orchd_pools_available', 'latency_first_token_ms'])
      assert.ok(read.has(name), `the rules or the dashboard read ${name}`);
  });
});
