/**
 * How light the operator page is (issue 20), in a real headless Chromium against a real stack (pool-managerd with
 * the demo pool on llama-server, orchestratord) on loopback:
 *  - load: `--loads` cold page loads (a fresh browser context each, nothing cached), from navigation to the first
 *    overview on screen (the page's `llorch:first-overview` mark);
 *  - under load: tasks submitted at `--rate` a minute for `--seconds` while the page stays open; every 250 ms the
 *    page is asked how old the picture on its screen is (now − the overview's `at`). A page that falls behind shows
 *    a growing age; one that keeps up stays within the stream's one second plus a render. The page's long tasks
 *    (main thread busy over 50 ms, PerformanceObserver) are counted too.
 *
 *   node test-harness/bench/ui.ts [--loads 20] [--rate 1000] [--seconds 60] [--quick] [--out DIR]
 *
 * writes UI.md and ui.json into DIR (default: this folder).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Overview } from '@llama-orch/contracts';
import type { Page } from 'playwright-core';
import { launchChromium } from '../src/browser.ts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { writeFormatted } from '../src/write-formatted.ts';
import { machine } from './results.ts';
import { fmt, percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    loads: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const QUICK = values.quick === true;
const LOADS = Number(values.loads ?? (QUICK ? 3 : 20));
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds ?? (QUICK ? 10 : 60));
const OUT = values.out ?? fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SLOTS = 4;
const MAX_TOKENS = 8;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const cluster = await startCluster([[{ id: 'demo', slots: SLOTS }]], { ORCHD_ADMISSION_CAPACITY: '10000' });
const browser = await launchChromium();
try {
  const url = cluster.url;

  // Loads: navigation → the first overview on screen. Cold: a fresh browser context each time (an empty HTTP cache,
  // no DevTools session attached, which would slow the page). Revisit: new tabs of one context, its cache warm.
  const firstOverview = async (page: Page): Promise<number> => {
    await page.waitForSelector('body[data-overview-at]', { timeout: 30_000 });
    return page.evaluate(() => performance.getEntriesByName('llorch:first-overview')[0]?.startTime ?? NaN);
  };
  const loadMs: number[] = [];
  // The first load after the start is reported apart: orchestratord bundles the page at the first request for it
  // (once per process).
  const firstContext = await browser.newContext();
  const firstPage = await firstContext.newPage();
  await firstPage.goto(`${url}/ui`);
  const firstLoadMs = await firstOverview(firstPage);
  await firstContext.close();
  for (let i = 0; i < LOADS; i += 1) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/ui`);
    loadMs.push(await firstOverview(page));
    await context.close();
  }
  const revisitMs: number[] = [];
  const tabs = await browser.newContext();
  for (let i = 0; i <= LOADS; i += 1) {
    const page = await tabs.newPage();
    await page.goto(`${url}/ui`);
    const ms = await firstOverview(page);
    if (i > 0) revisitMs.push(ms); // the first fills the cache
    await page.close();
  }
  await tabs.close();
  log(`load: median ${fmt(percentile(loadMs, 50))} ms cold, ${fmt(percentile(revisitMs, 50))} ms revisited`);

  // Under load: the page open while tasks arrive at RATE a minute.
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  // Browser code as text: this file is type-checked for Node, not for the DOM.
  await context.addInitScript(
    'window.longTasks = []; new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks.push(e.duration); }).observe({ type: "longtask", buffered: true });',
  );
  const page = await context.newPage();
  await page.goto(`${url}/ui`);
  await page.waitForSelector('body[data-overview-at]', { timeout: 30_000 });
  const ages: number[] = [];
  const pictures = new Set<string>();
  let submitted = 0;
  let refused = 0;
  const inFlight = new Set<Promise<void>>();
  const begin = Date.now();
  const gapMs = 60_000 / RATE;
  let nextAt = begin;
  let nextSample = begin;
  while (Date.now() - begin < SECONDS * 1000) {
    const now = Date.now();
    while (nextAt <= now) {
      nextAt += gapMs;
      submitted += 1;
      const body = { task_id: `ui-${submitted}`, model_ref: 'demo', prompt: 'Hi', max_tokens: MAX_TOKENS };
      const sent = jsonRequest(`${url}/v2/tasks`, { method: 'POST', body }).then((a) => {
        if (a.status !== 202) refused += 1;
      });
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
    }
    if (now >= nextSample) {
      nextSample += 250;
      const at = await page.evaluate<string>('document.body.dataset.overviewAt ?? ""');
      pictures.add(at);
      ages.push(Date.now() - Number(at));
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(inFlight);
  const elapsedS = (Date.now() - begin) / 1000;
  const longTasks = await page.evaluate<number[]>('window.longTasks');
  const seen = await page.locator('[data-testid="finished-tasks"] tr[data-task]').count();
  const server = (await jsonRequest<Overview>(`${url}/v2/overview`)).body;
  await context.close();

  const figures = {
    'load.median_ms': percentile(loadMs, 50),
    'load.p90_ms': percentile(loadMs, 90),
    'load.revisit_median_ms': percentile(revisitMs, 50),
    'load.first_after_start_ms': firstLoadMs,
    'lag.p50_ms': percentile(ages, 50),
    'lag.p99_ms': percentile(ages, 99),
    'lag.max_ms': Math.max(...ages),
    'load.tasks_per_minute': (submitted / elapsedS) * 60,
    'load.pictures_per_second': pictures.size / elapsedS,
    'page.long_tasks': longTasks.length,
    'page.long_task_ms_total': longTasks.reduce((a, b) => a + b, 0),
  };
  const host = machine(ROOT);
  const command = `npm run bench:ui --${QUICK ? ' --quick' : ''} --loads ${LOADS} --rate ${RATE} --seconds ${SECONDS}`;
  const report = `# The operator page: load time and keeping up (issue 20)

\`${command}\` — ${new Date().toISOString()}, ${host.cpu} (${host.cores} cores, ${host.ramGb} GB), Node ${host.node}, commit ${host.commit}.

Headless Chromium (Debian's package, playwright-core) on the same machine as the stack: pool-managerd with the demo
pool (${SLOTS} slots, CPU llama-server) and orchestratord, on loopback.

| figure | value | target |
|---|---|---|
| page load, cold (a fresh browser context: empty cache), navigation → first overview on screen, median (p90) of ${LOADS} | ${fmt(figures['load.median_ms'])} ms (${fmt(figures['load.p90_ms'])} ms) | < 300 ms |
| the first load after orchestratord starts (it bundles the page then, once) | ${fmt(figures['load.first_after_start_ms'])} ms | |
| page load, revisited (a new tab, the browser's cache warm; scripts revalidated by ETag), median of ${LOADS} | ${fmt(figures['load.revisit_median_ms'])} ms | |
| tasks submitted | ${fmt(figures['load.tasks_per_minute'], 0)} a minute for ${fmt(elapsedS, 0)} s (max_tokens ${MAX_TOKENS}; ${refused} refused) | 1,000 a minute |
| age of the picture on screen, p50 / p99 / max (sampled every 250 ms) | ${fmt(figures['lag.p50_ms'], 0)} / ${fmt(figures['lag.p99_ms'], 0)} / ${fmt(figures['lag.max_ms'], 0)} ms | never more than 1 s + a render |
| pictures shown per second | ${fmt(figures['load.pictures_per_second'], 2)} | 1 |
| the page's long tasks (main thread busy > 50 ms) | ${figures['page.long_tasks']} (${fmt(figures['page.long_task_ms_total'], 0)} ms in all) | |

At the end the page listed ${seen} finished tasks (it keeps the latest 50) and orchestratord's own overview had
${server.tasks.finished.length}; ${server.tasks.live_total} were still live.
`;
  await mkdir(OUT, { recursive: true });
  await writeFormatted(join(OUT, 'UI.md'), report);
  await writeFormatted(join(OUT, 'ui.json'), JSON.stringify({ command, figures, loadMs, revisitMs }));
  log(report);
} finally {
  await browser.close();
  await cluster.cleanup();
}
