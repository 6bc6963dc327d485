/**
 * The operator page (issue 20) in a real headless Chromium against a real cluster: orchestratord, pool-managerd and
 * llama-server engines on loopback. Screenshots of each state go under the test's temp dir (kept, with their path
 * printed, when LLORCH_KEEP_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { OverviewSchema, validate, type Overview } from '@llama-orch/contracts';
import { launchChromium } from '../src/browser.ts';
import { startCluster } from '../src/cluster.ts';
import { commandsFrom } from '../src/debian-packages.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startProcess, waitFor } from '../src/processes.ts';
import { followEvents } from '../src/sse.ts';

/** What a step of the page may take: the page updates once a second; the demo engine streams ~100 tokens/s. */
const STEP_MS = 20_000;

let browser: Browser;
let shots: string;

before(async () => {
  browser = await launchChromium();
  shots = await mkdtemp(join(tmpdir(), 'llorch-ui-shots-'));
});
after(async () => {
  await browser.close();
  if (process.env['LLORCH_KEEP_SCREENSHOTS'] === '1') process.stderr.write(`# screenshots: ${shots}\n`);
  else await rm(shots, { recursive: true, force: true });
});

async function openPage(url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`${url}/ui`);
  return { page, errors };
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

/** POST /v2/tasks with curl, as a user would from a terminal; resolves with curl's output. */
async function curlTask(url: string, body: Record<string, unknown>, key?: string): Promise<string> {
  const [curl = 'curl'] = await commandsFrom('curl', ['curl']);
  const args = [
    '-sS',
    '-X',
    'POST',
    `${url}/v2/tasks`,
    '-H',
    'content-type: application/json',
    '-d',
    JSON.stringify(body),
  ];
  if (key !== undefined) args.push('-H', `authorization: Bearer ${key}`);
  const run = startProcess(curl, args, process.env);
  const code = await run.exited;
  if (code !== 0) throw new Error(`curl exited ${String(code)}: ${run.output()}`);
  return run.output();
}

/**
 * curlTask as a client following the contract submits: a retriable POOL_UNAVAILABLE (a poll of the busy node came
 * back late, which takes its pool out of placement for a round) is tried again after the time it names, at most 5
 * times. Any other answer is returned as it came.
 */
async function curlTaskRetrying(url: string, body: Record<string, unknown>): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await curlTask(url, body);
    const refusal = JSON.parse(answer) as { code?: string; retriable?: boolean; retry_after_ms?: number };
    if (refusal.code !== 'POOL_UNAVAILABLE' || refusal.retriable !== true || attempt > 5) return answer;
    await new Promise((resolve) => setTimeout(resolve, refusal.retry_after_ms ?? 1000));
  }
}

/** The first `n` pictures of GET /v2/overview/events (within 10 s), then the stream is closed. */
async function overviewEvents(url: string, n: number, key?: string): Promise<Overview[]> {
  const enough = new AbortController();
  let seen = 0;
  const followed = await followEvents(`${url}/v2/overview/events`, {
    timeoutMs: 10_000,
    signal: enough.signal,
    ...(key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } }),
    onEvent: (event) => {
      if (event.event === 'overview' && (seen += 1) >= n) enough.abort();
    },
  });
  assert.equal(followed.status, 200);
  const pictures = followed.events.filter((event) => event.event === 'overview');
  assert.ok(pictures.length >= n, `${n} overview events, saw ${pictures.length}`);
  return pictures.slice(0, n).map((event) => event.data as unknown as Overview);
}

const cancel = (url: string, id: string, key?: string) =>
  jsonRequest(`${url}/v2/tasks/${id}/cancel`, {
    method: 'POST',
    ...(key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } }),
  });

describe('the operator page (issue 20), in headless Chromium', { timeout: 10 * 60_000 }, () => {
  test('HOME: the demo pool shows ready; a playground chat streams; a curl task goes from live to finished; the queue and its 429s show; a drain shows the pool draining', async (t) => {
    // 65,536 tokens a slot: the long tasks below run for most of a minute at the engine's fastest, past every step that
    // needs them running (with 16,384 a fast run saw them end before the third task could wait for one).
    const cluster = await startCluster([[{ id: 'demo', slots: 2, ctx: 131_072 }]], { ORCHD_ADMISSION_CAPACITY: '1' });
    t.after(cluster.cleanup);
    const url = cluster.url;

    // The page holds no data and runs only its own scripts.
    const served = await fetch(`${url}/ui`);
    assert.match(served.headers.get('content-security-policy') ?? '', /script-src 'self';/);
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(served.headers.get('referrer-policy'), 'no-referrer');
    // The stream: the first picture carries the history, the next ones only the seconds added since.
    await waitFor(
      'three seconds of history',
      async () => ((await jsonRequest<Overview>(`${url}/v2/overview`)).body.throughput.length >= 3 ? true : undefined),
      STEP_MS,
    );
    const [first, second] = await overviewEvents(url, 2);
    assert.ok(first !== undefined && second !== undefined);
    assert.ok(first.throughput.length >= 3, `history in the first picture (${first.throughput.length} points)`);
    assert.ok(second.throughput.length <= 2, `only new seconds in the next (${second.throughput.length})`);
    assert.ok((second.throughput[0]?.t ?? Infinity) > (first.throughput.at(-1)?.t ?? 0));

    const { page, errors } = await openPage(url);

    // The pool, as pool-managerd reports it.
    const pool = page.locator('[data-pool="demo"]');
    await pool.and(page.locator('[data-state="ready"]')).waitFor({ timeout: STEP_MS });
    assert.equal(await pool.getByTestId('pool-state').textContent(), 'ready');
    assert.match((await pool.getByTestId('slots').textContent()) ?? '', /slots 0 \/ 2 busy/);
    assert.match((await pool.textContent()) ?? '', /llama\.cpp \S+/, 'the engine version is shown');
    await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: STEP_MS });
    await shot(page, '1-pools');

    // The playground streams a chat: the output grows while it runs, and it ends with the model's words.
    await page.getByTestId('playground-prompt').fill('Say hello');
    await page.locator('input[type="number"]').fill('200');
    await page.getByTestId('playground-send').click();
    const stats = page.getByTestId('playground-stats');
    await stats.and(page.locator('[data-state="streaming"]')).waitFor({ timeout: STEP_MS });
    const midway = Number(await stats.getAttribute('data-tokens'));
    await stats.and(page.locator('[data-state="done"]')).waitFor({ timeout: STEP_MS });
    const tokens = Number(await stats.getAttribute('data-tokens'));
    assert.ok(
      tokens > midway && tokens > 1,
      `tokens arrived one by one (${midway} while streaming, ${tokens} at the end)`,
    );
    assert.match((await page.getByTestId('playground-output').textContent()) ?? '', /Hello from the demo model/);
    await shot(page, '2-playground');

    // A task submitted with curl shows as live, its tokens counting up, then as finished with its outcome.
    const admitted = JSON.parse(
      await curlTask(url, {
        task_id: 'curl-1',
        model_ref: 'demo',
        prompt: 'Go on:',
        max_tokens: 6000,
        ignore_eos: true,
      }),
    ) as { task_id?: string };
    assert.equal(admitted.task_id, 'curl-1');
    const live = page.getByTestId('live-tasks').locator('tr[data-task="curl-1"][data-state="running"]');
    await live.waitFor({ timeout: STEP_MS });
    const liveTokens = live.getByTestId('tokens');
    await waitFor(
      'curl-1’s tokens to count up',
      async () => (Number(await liveTokens.textContent()) > 0 ? true : undefined),
      STEP_MS,
    );
    assert.match((await live.textContent()) ?? '', /demo/, 'the live row names its pool');
    await shot(page, '3-live-task');
    const finished = page.getByTestId('finished-tasks').locator('tr[data-task="curl-1"]');
    await finished.waitFor({ timeout: 60_000 });
    assert.match((await finished.textContent()) ?? '', /length/, 'its outcome: it ran to max_tokens');
    assert.match((await finished.getByTestId('tokens').textContent()) ?? '', /^6000$/);
    // The charts drew, from seconds that counted those tokens.
    assert.equal(await page.getByTestId('chart-throughput').locator('canvas').count(), 1);
    assert.equal(await page.getByTestId('chart-latency').locator('canvas').count(), 1);
    const seen = (await jsonRequest<Overview>(`${url}/v2/overview`)).body;
    assert.ok(seen.throughput.some((p) => p.tokens_per_s > 0 && p.first_token_p50_ms !== null));
    await shot(page, '4-finished-task');

    // Two long tasks fill both slots, a third waits (the queue holds one), a fourth is refused with 429.
    const hog = (id: string) => ({
      task_id: id,
      model_ref: 'demo',
      prompt: 'Go on:',
      max_tokens: 100_000,
      ignore_eos: true,
    });
    for (const id of ['hog-1', 'hog-2']) await curlTaskRetrying(url, hog(id));
    // Both running by orchestratord's account, not only the page's: a dispatch that pool-managerd found busy (its
    // slot still finishing curl-1) comes back to the queue, and the queue's one place would then refuse `waits`.
    const states = (): Promise<string[]> =>
      Promise.all(
        ['hog-1', 'hog-2'].map(
          async (id) => (await jsonRequest<{ state: string }>(`${url}/v2/tasks/${id}`)).body.state,
        ),
      );
    let hogStates: string[] = [];
    await waitFor(
      'both long tasks running',
      async () => {
        hogStates = await states();
        return hogStates.every((state) => state === 'running') ? true : undefined;
      },
      STEP_MS,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; they were ${hogStates.join(', ')}`);
    });
    await page.getByTestId('live-tasks').locator('tr[data-state="running"]').nth(1).waitFor({ timeout: STEP_MS });
    const waiting = JSON.parse(await curlTaskRetrying(url, hog('waits'))) as { task_id?: string };
    assert.equal(waiting.task_id, 'waits', `admitted to the queue: ${JSON.stringify(waiting)}`);
    // Only once it holds the queue's one place is the next refused (a dispatch orchestratord tried while the pool's
    // report of its slots was a poll behind comes back to the queue).
    let waits: unknown = null;
    await waitFor(
      'waits to hold the queue',
      async () => {
        const answer = await jsonRequest<{ state: string }>(`${url}/v2/tasks/waits`);
        waits = answer.body;
        return answer.body.state === 'queued' ? true : undefined;
      },
      STEP_MS,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; it was ${JSON.stringify(waits)}`);
    });
    const refused = JSON.parse(await curlTask(url, hog('refused'))) as { code?: string };
    assert.equal(refused.code, 'ADMISSION_REJECT');
    await page.getByTestId('queue-depth').filter({ hasText: '1 / 1' }).waitFor({ timeout: STEP_MS });
    await page.getByTestId('queue-429').filter({ hasText: /^1/ }).waitFor({ timeout: STEP_MS });
    await page
      .getByTestId('live-tasks')
      .locator('tr[data-task="waits"][data-state="queued"]')
      .waitFor({ timeout: STEP_MS });
    assert.notEqual(await page.getByTestId('queue-oldest').locator('.value').textContent(), '–');
    assert.notEqual(await page.getByTestId('queue-next').locator('.value').textContent(), '–');
    assert.equal(await page.getByTestId('queue-interactive').locator('.value').textContent(), '1');
    assert.equal(await page.getByTestId('queue-batch').locator('.value').textContent(), '0');
    await shot(page, '5-queue');
    await cancel(url, 'waits');

    // Drain, confirmed in the dialog: the pool shows draining while its running tasks still run.
    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await pool.locator('button[data-action="drain"]').click();
    await pool.and(page.locator('[data-state="draining"]')).waitFor({ timeout: STEP_MS });
    assert.match(asked, /Drain pool demo\?/);
    await shot(page, '6-draining');
    for (const id of ['hog-1', 'hog-2']) await cancel(url, id);
    await pool.and(page.locator('[data-state="offline"]')).waitFor({ timeout: 60_000 });
    await page
      .getByTestId('pool-note')
      .filter({ hasText: /drained/ })
      .waitFor({ timeout: STEP_MS });
    assert.deepEqual(errors, [], 'no error in the page');
  });

  test('CLOUD: the page asks for the API key once (kept in session storage, never in a URL); a client sees only its own tasks and no pool buttons', async (t) => {
    const admin = 'sk-ui-admin-0123456789abcdef';
    const client = 'sk-ui-client-0123456789abcdef';
    const cluster = await startCluster([[{ id: 'demo', slots: 2 }]], { ORCHD_API_KEYS: `${client},${admin} admin` });
    t.after(cluster.cleanup);
    const url = cluster.url;
    const { page } = await openPage(url);

    await page.getByTestId('key-form').waitFor({ timeout: STEP_MS });
    assert.match((await page.getByTestId('key-message').textContent()) ?? '', /UNAUTHORIZED/);
    await shot(page, '7-key-prompt');
    await page.getByTestId('key-input').fill('sk-not-a-key-0123456789');
    await page.getByTestId('key-submit').click();
    await page.getByTestId('key-message').filter({ hasText: 'unknown API key' }).waitFor({ timeout: STEP_MS });
    assert.equal(
      await page.evaluate(() => sessionStorage.getItem('llama-orch.api-key')),
      null,
      'a refused key is dropped',
    );
    await page.getByTestId('key-input').fill(client);
    await page.getByTestId('key-submit').click();
    await page.locator('[data-pool="demo"][data-state="ready"]').waitFor({ timeout: STEP_MS });
    assert.equal(await page.locator('button[data-action="drain"]').count(), 0, 'a client gets no drain button');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('llama-orch.api-key')), client);
    assert.ok(!page.url().includes(client), 'the key is not in the URL');

    // Only the client's own tasks show; the admin's does not.
    await curlTask(url, { task_id: 'admins', model_ref: 'demo', prompt: 'Hi', max_tokens: 8 }, admin);
    await curlTask(url, { task_id: 'mine', model_ref: 'demo', prompt: 'Hi', max_tokens: 8 }, client);
    await page.getByTestId('finished-tasks').locator('tr[data-task="mine"]').waitFor({ timeout: STEP_MS });
    const asAdmin = await jsonRequest<Overview>(`${url}/v2/overview`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.ok(validate(OverviewSchema, asAdmin.body).ok, JSON.stringify(asAdmin.body));
    assert.ok(
      asAdmin.body.tasks.finished.some((task) => task.task_id === 'admins'),
      'the admin task did finish',
    );
    assert.equal(await page.locator('tr[data-task="admins"]').count(), 0, 'another identity’s task is not shown');

    // Another identity's running task is not listed, nor counted, on the client's page.
    await curlTask(
      url,
      { task_id: 'admin-long', model_ref: 'demo', prompt: 'Go on:', max_tokens: 100_000, ignore_eos: true },
      admin,
    );
    const asAdminNow = async () =>
      (await jsonRequest<Overview>(`${url}/v2/overview`, { headers: { authorization: `Bearer ${admin}` } })).body;
    await waitFor(
      'the admin task to run',
      async () =>
        (await asAdminNow()).tasks.live.some((task) => task.task_id === 'admin-long' && task.state === 'running')
          ? true
          : undefined,
      STEP_MS,
    );
    const asClient = (
      await jsonRequest<Overview>(`${url}/v2/overview`, { headers: { authorization: `Bearer ${client}` } })
    ).body;
    assert.deepEqual([asClient.tasks.live.length, asClient.tasks.live_total], [0, 0]);
    assert.equal((await asAdminNow()).tasks.live_total, 1);
    await page.waitForTimeout(1_500); // a picture or two after it started
    assert.equal(await page.locator('tr[data-task="admin-long"]').count(), 0);
    await cancel(url, 'admin-long', admin);

    // An admin's page has the pool buttons; a reload asks for the model and says how it went.
    const adminPage = (await openPage(url)).page;
    await adminPage.getByTestId('key-input').fill(admin);
    await adminPage.getByTestId('key-submit').click();
    const adminPool = adminPage.locator('[data-pool="demo"][data-state="ready"]');
    await adminPool.waitFor({ timeout: STEP_MS });
    assert.equal(await adminPool.locator('button[data-action="drain"]').count(), 1);
    adminPage.once('dialog', (dialog) => void dialog.accept('demo'));
    await adminPool.locator('button[data-action="reload"]').click();
    await adminPage.getByTestId('pool-note').filter({ hasText: 'reloaded with demo' }).waitFor({ timeout: 120_000 });
    await adminPage.context().close();

    // Overview streams are bounded per identity: the page holds one, seven more fit, the ninth is refused.
    const held = new AbortController();
    t.after(() => held.abort());
    for (let i = 0; i < 7; i += 1) {
      const open = await fetch(`${url}/v2/overview/events`, {
        signal: held.signal,
        headers: { authorization: `Bearer ${client}` },
      });
      assert.equal(open.status, 200);
    }
    const refusedStream = await jsonRequest<{ code: string; message: string }>(`${url}/v2/overview/events`, {
      headers: { authorization: `Bearer ${client}` },
    });
    assert.equal(refusedStream.status, 429);
    assert.equal(refusedStream.body.code, 'TOO_MANY_STREAMS');
    held.abort();

    // A reload keeps the key for the tab: no second prompt.
    await page.reload();
    await page.locator('[data-pool="demo"][data-state="ready"]').waitFor({ timeout: STEP_MS });
    assert.equal(await page.getByTestId('key-form').count(), 0);
    await shot(page, '8-client-view');
  });
});
