/**
 * Steps of replicas.feature, auth.feature, tls.feature, discovery.feature and metrics.feature: the CLOUD profile's
 * claims judged from outside the daemons — the engines' own load sampled inside each node's namespace, credentials
 * refused at the door, certificates refused or rotated at a node's TLS port, DNS records that change, and the
 * series a scraper reads from orchestratord's /metrics.
 *
 * One file for the five CLOUD features (as the suite's layout gives each area one step file); it is long because the
 * observations need their own small tools here: a Prometheus text reader, mutual-TLS probes of a node with
 * certificates from the cluster CA or another, and an engine sampler that runs inside a node's namespace.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { After, Given, Then, When, type DataTable } from '@cucumber/cucumber';
import { Agent, request } from 'undici';
import { createCa, issueCertificate, loadCa, type PemPair } from '@llama-orch/tls';
import type { ErrorEnvelope, Handoff, PoolStatus } from '@llama-orch/contracts';
import { jsonRequest, type JsonAnswer } from '../../../src/http-json.ts';
import type { NetCluster, NetNode } from '../../../src/netns/index.ts';
import { startOidcIssuer, type OidcIssuer } from '../../../src/oidc-issuer.ts';
import { waitFor } from '../../../src/processes.ts';
import { followEvents, summarize, within, type SseEvent } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';

/** How long one plain request may take (the cluster is up; nothing here waits for an engine to start). */
const ANSWER_MS = 15_000;
/** How long a TLS handshake with a node may take before the probe counts as failed. */
const HANDSHAKE_MS = 5_000;
/** A long task is followed this long at most; the scenario's own budget ends it sooner. */
const LONG_FOLLOW_MS = 5 * 60_000;
/** How long a counter may lag behind the event that a client already saw (it counts the dispatch's answer). */
const COUNTER_SETTLE_MS = 2_000;
/** The engine sampler must have looked at each engine at least this often for its maximum to mean anything. */
const MIN_SAMPLES = 5;
const PROMPT = 'Once upon a time';
/** A long task runs until its context is full (many seconds even unloaded); a scenario cancels it when done with it. */
const LONG_TASK_TOKENS = 1_000_000;
/** The context of the pools of a DNS-found cluster, as the common cluster step gives: room for a long task. */
const LONG_CTX = 16_384;
/** How long the engine of a node that just joined may take to start (2 cores, a shared build cache). */
const ENGINE_START_MS = 120_000;

/** What these features remember beyond the World's own fields, per scenario. */
interface AreaState {
  issuer?: OidcIssuer;
  token?: string;
  sampler?: EngineSampler;
  burst?: { ids: string[]; okBefore: number };
  noted: Map<string, number>;
  /** The tasks with no terminal event yet at a named moment ("the new certificate was served", ...): their tokens. */
  openAt: Map<string, Map<string, number>>;
  rotated?: { node: string; serial: string };
  /** The certificate a node had when its file was spoiled. */
  kept?: { node: string; serial: string };
  joinedAt?: number;
  client?: PemPair & { ca: string };
}
const areas = new WeakMap<ClusterWorld, AreaState>();
function area(world: ClusterWorld): AreaState {
  let state = areas.get(world);
  if (!state) {
    state = { noted: new Map(), openAt: new Map() };
    areas.set(world, state);
  }
  return state;
}

After(async function (this: ClusterWorld) {
  const state = areas.get(this);
  state?.sampler?.stop();
  await state?.issuer?.close();
});

function clusterOf(world: ClusterWorld): NetCluster {
  assert.ok(world.cluster, 'no cluster: a Given step starts one first');
  return world.cluster;
}

function lastAnswer<T>(world: ClusterWorld): JsonAnswer<T> {
  assert.ok(world.last, 'no HTTP answer yet');
  return world.last as JsonAnswer<T>;
}

/** Slack on top of a poll bound for a loaded 2-core machine (the probe's own requests, scheduling); the time taken is attached. */
const SCHEDULING_MARGIN_MS = 1_000;
/**
 * One poll of every node plus its request timeout — the bound CLOUD-0007 and CLOUD-6003 give for a change to show in
 * orchestratord — plus the scheduling margin.
 */
const onePoll = (cluster: NetCluster): number =>
  cluster.pollIntervalMs + cluster.requestTimeoutMs + SCHEDULING_MARGIN_MS;

const taskBody = (id: string, maxTokens: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  task_id: id,
  model_ref: 'demo',
  prompt: PROMPT,
  max_tokens: maxTokens,
  ignore_eos: true,
  ...extra,
});

/** POST /v2/tasks to `url` with `headers`; the answer becomes `last`, and a new task id's admission is kept. */
async function submit(
  world: ClusterWorld,
  body: Record<string, unknown>,
  headers: Record<string, string>,
  url = clusterOf(world).url,
): Promise<JsonAnswer<unknown>> {
  const answer = await jsonRequest(`${url}/v2/tasks`, { method: 'POST', body, headers, timeoutMs: ANSWER_MS });
  world.last = answer;
  const id = body['task_id'];
  if (typeof id === 'string' && answer.status === 202) world.task(id).admission = answer;
  return answer;
}

/** Follow a task's events in the background into the World's record of it (as the common follow step does). */
function follow(world: ClusterWorld, id: string, headers: Record<string, string>, url = clusterOf(world).url): void {
  const record = world.task(id);
  const followed = followEvents(`${url}/v2/tasks/${id}/events`, {
    headers,
    timeoutMs: LONG_FOLLOW_MS,
    onEvent: (event) => record.events.push(event),
  });
  followed.catch(() => undefined); // the step that awaits it reports its failure; the stop of the cluster ends it
  record.followed = followed;
}

const isTerminal = (event: SseEvent): boolean => event.event === 'end' || event.event === 'error';

const tokensOf = (events: readonly SseEvent[]): number => events.filter((e) => e.event === 'token').length;

/** Remember which tasks were still open (no terminal event) at a named moment, and how many tokens each had. */
function markOpen(world: ClusterWorld, moment: string): void {
  const open = [...world.tasks].filter(([, r]) => !r.events.some(isTerminal));
  area(world).openAt.set(moment, new Map(open.map(([id, r]) => [id, tokensOf(r.events)])));
}

/** The task was open at `moment` and went on streaming `more` tokens after it, with no terminal event meanwhile. */
async function streamedOn(
  world: ClusterWorld,
  id: string,
  moment: string,
  more: number,
  budgetMs: number,
): Promise<void> {
  const tokensThen = area(world).openAt.get(moment)?.get(id);
  const record = world.tasks.get(id);
  assert.ok(record, `task ${id} is not followed`);
  assert.ok(tokensThen !== undefined, `task ${id} had already ended when ${moment}: ${summarize(record.events)}`);
  await waitFor(
    `task ${id} to stream ${more} more tokens after ${moment} (it had ${tokensThen})`,
    () => {
      assert.ok(!record.events.some(isTerminal), `task ${id} ended: ${summarize(record.events)}`);
      return tokensOf(record.events) >= tokensThen + more ? true : undefined;
    },
    budgetMs,
    20,
  );
}

/**
 * Wait until the streams these steps followed (through other URLs or credentials than the common follow step's) have
 * closed, then check that each ended with exactly one terminal event, `terminal`, and nothing after it.
 */
async function endedWith(
  world: ClusterWorld,
  ids: readonly string[],
  terminal: string,
  budgetMs: number,
): Promise<void> {
  const records = ids.map((id) => [id, world.tasks.get(id)] as const);
  await within(
    `${ids.join(', ')} to end`,
    budgetMs,
    () => Promise.all(records.map(([id, r]) => r?.followed ?? Promise.reject(new Error(`${id} is not followed`)))),
    () => records.map(([id, r]) => `${id}: ${summarize(r?.events ?? [])}`).join('; '),
  );
  const wrong = records
    .map(([id, r]) => ({ id, events: r?.events ?? [] }))
    .filter(({ events }) => events.filter(isTerminal).length !== 1 || events.at(-1)?.event !== terminal)
    .map(({ id, events }) => `${id}: ${summarize(events)}`);
  assert.deepEqual(wrong, [], `every task ends with exactly one "${terminal}" and nothing after it`);
}

// ---- Prometheus text ---------------------------------------------------------------------------------------------

interface Series {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
}

/** `name{a="x",b="y"}` (labels in any order) as a name and a label map. */
function parseSeries(text: string): Series {
  const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?$/.exec(text.trim());
  assert.ok(match?.[1], `not a series: ${text}`);
  const labels = new Map<string, string>();
  for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
    labels.set(label[1] ?? '', label[2] ?? '');
  return { name: match[1], labels };
}

/** The value of exactly that series (the same name and label set) in a /metrics text; undefined when absent. */
function valueOf(metrics: string, wanted: string): number | undefined {
  const target = parseSeries(wanted);
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    const series = parseSeries(line.slice(0, space));
    if (series.name !== target.name || series.labels.size !== target.labels.size) continue;
    if ([...target.labels].every(([k, v]) => series.labels.get(k) === v)) return Number(line.slice(space + 1));
  }
  return undefined;
}

/** GET /metrics of an orchestratord replica, without any credential (as a scraper asks). */
async function scrape(url: string): Promise<string> {
  const answer = await request(`${url}/metrics`, { signal: AbortSignal.timeout(ANSWER_MS) });
  const text = await answer.body.text();
  assert.equal(answer.statusCode, 200, `GET ${url}/metrics without a key: ${text.slice(0, 200)}`);
  return text;
}

/** One series summed over every replica (a counter absent from a replica counts 0 there). */
async function summedOverReplicas(cluster: NetCluster, series: string): Promise<number> {
  const texts = await Promise.all(cluster.orchestrators.map((o) => scrape(o.url)));
  return texts.reduce((sum, text) => sum + (valueOf(text, series) ?? 0), 0);
}

/** Sum of every sample of `name` whose labels include `labels`, in one /metrics text. */
function sumMatching(metrics: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    const series = parseSeries(line.slice(0, space));
    if (series.name === name && Object.entries(labels).every(([k, v]) => series.labels.get(k) === v))
      sum += Number(line.slice(space + 1));
  }
  return sum;
}

async function replicasSum(cluster: NetCluster, name: string, labels: Record<string, string>): Promise<number> {
  const texts = await Promise.all(cluster.orchestrators.map((o) => scrape(o.url)));
  return texts.reduce((sum, text) => sum + sumMatching(text, name, labels), 0);
}

// ---- mutual TLS from the test ------------------------------------------------------------------------------------

/** A client certificate from the cluster's own CA (cluster.caDir holds ca.crt and ca.key), made once per scenario. */
async function clusterClient(world: ClusterWorld): Promise<PemPair & { ca: string }> {
  const state = area(world);
  if (state.client) return state.client;
  const dir = clusterOf(world).caDir;
  const ca = await loadCa({
    cert: await readFile(join(dir, 'ca.crt'), 'utf8'),
    key: await readFile(join(dir, 'ca.key'), 'utf8'),
  });
  const pair = await issueCertificate(ca, { commonName: 'bdd-probe', usage: 'client' });
  state.client = { ...pair, ca: ca.cert };
  return state.client;
}

/** GET a node path through an undici Agent with these TLS options: its status, or the error that refused it. */
async function nodeGet(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
): Promise<{ status: number; body: string } | { error: Error & { code?: string } }> {
  const agent = new Agent({ connect: { ...tls, rejectUnauthorized: true, timeout: HANDSHAKE_MS } });
  try {
    const answer = await request(url, { dispatcher: agent, signal: AbortSignal.timeout(ANSWER_MS) });
    return { status: answer.statusCode, body: await answer.body.text() };
  } catch (error) {
    return { error: error as Error & { code?: string } };
  } finally {
    await agent.close();
  }
}

/** The refusal must come from the node's TLS layer, not from a network that does not reach it or a bad server cert. */
function assertRefusedByNode(outcome: Awaited<ReturnType<typeof nodeGet>>, who: string): void {
  assert.ok('error' in outcome, `${who}: the node answered HTTP ${'status' in outcome ? outcome.status : ''}`);
  const { error } = outcome;
  const described = `${error.code ?? ''} ${error.message} ${String((error.cause as Error | undefined)?.message ?? '')}`;
  assert.doesNotMatch(
    described,
    /ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|CONNECT_TIMEOUT|UNABLE_TO_VERIFY|SELF_SIGNED|ALTNAME|TimeoutError/,
    `${who}: refused for another reason than its certificate: ${described}`,
  );
}

/** Open a new TLS connection to a node with a cluster client certificate: the serial of the certificate it serves. */
function servedSerial(node: NetNode, client: PemPair & { ca: string }): Promise<string> {
  const { hostname, port } = new URL(node.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ...client }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.setTimeout(HANDSHAKE_MS, () =>
      socket.destroy(new Error(`no TLS handshake with ${node.url} within ${HANDSHAKE_MS} ms`)),
    );
    socket.once('error', reject);
  });
}

/** The certificate and key files a pool-managerd watches, from its "TLS material loaded" log line. */
function tlsFilesOf(node: NetNode): { cert: string; key: string } {
  const line = node
    .logs()
    .split('\n')
    .find((l) => l.includes('TLS material loaded'));
  assert.ok(line, `pool-managerd of ${node.id} logged no TLS material:\n${node.logs().slice(-2000)}`);
  const files = ((JSON.parse(line) as { files?: string }).files ?? '').split(', ');
  const [cert, key] = files;
  assert.ok(cert && key, `pool-managerd of ${node.id} names its TLS files: ${line}`);
  return { cert, key };
}

/** The names a certificate is valid for (its SAN), as issueCertificate takes them. */
function hostsOf(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter((host) => host !== '');
}

async function replaceAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.next`, text, { mode: 0o600 });
  await rename(`${file}.next`, file);
}

// ---- the engines' own load, sampled inside the nodes' namespaces -------------------------------------------------

interface EngineLoad {
  slots: number;
  samples: number;
  failures: number;
  maxProcessing: number;
  maxDeferred: number;
}

/** The sampler that runs inside a namespace: each engine's /slots and /metrics, one JSON line per look. */
const SAMPLER = `
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

class EngineSampler {
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
async function handoffsOf(node: NetNode): Promise<Handoff[]> {
  const dir = join(node.runtimeDir, 'engines');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as Handoff));
}

/** pool_dispatch_total{outcome="ok"} of every node, read over mutual TLS with a cluster client certificate. */
async function nodesDispatchedOk(world: ClusterWorld): Promise<number> {
  const client = await clusterClient(world);
  let sum = 0;
  for (const node of clusterOf(world).nodes) {
    const answer = await nodeGet(`${node.url}/metrics`, client);
    assert.ok('status' in answer && answer.status === 200, `GET ${node.url}/metrics: ${JSON.stringify(answer)}`);
    sum += sumMatching(answer.body, 'pool_dispatch_total', { outcome: 'ok' });
  }
  return sum;
}

// ---- replicas.feature ---------------------------------------------------------------------------------------------

When(
  '{int} tasks of {int} max tokens are sent through the replicas in turn',
  async function (this: ClusterWorld, count: number, maxTokens: number) {
    const cluster = clusterOf(this);
    const state = area(this);
    state.sampler = await EngineSampler.start(cluster.nodes);
    const okBefore = await nodesDispatchedOk(this);
    const ids = Array.from({ length: count }, (_, i) => `burst-${i}`);
    await Promise.all(
      ids.map(async (id, i) => {
        const replica = cluster.orchestrators[i % cluster.orchestrators.length];
        assert.ok(replica);
        const answer = await submit(this, taskBody(id, maxTokens), cluster.auth, replica.url);
        assert.equal(
          answer.status,
          202,
          `${id} through replica ${i % cluster.orchestrators.length}: ${JSON.stringify(answer.body)}`,
        );
        follow(this, id, cluster.auth, replica.url);
      }),
    );
    state.burst = { ids, okBefore };
  },
);

Then(
  'every one of those tasks ends with {string} within {int} seconds',
  async function (this: ClusterWorld, terminal: string, seconds: number) {
    const burst = area(this).burst;
    assert.ok(burst, 'no burst of tasks was sent');
    await endedWith(this, burst.ids, terminal, seconds * 1000);
  },
);

Then('no engine ever processed more requests than its slots or deferred one', function (this: ClusterWorld) {
  const sampler = area(this).sampler;
  assert.ok(sampler, 'the engines were not sampled');
  sampler.stop();
  const loads = [...sampler.loads];
  this.attach(loads.map(([url, l]) => `${url}: ${JSON.stringify(l)}`).join('\n'));
  for (const [url, load] of loads) {
    assert.ok(
      load.samples >= MIN_SAMPLES,
      `${url} was sampled throughout (${load.samples} samples, ${load.failures} failed)`,
    );
    assert.equal(load.maxDeferred, 0, `${url}: the engine never deferred a request (never more than its slots)`);
    assert.ok(
      load.maxProcessing <= load.slots,
      `${url}: at most ${load.slots} requests processing, saw ${load.maxProcessing}`,
    );
  }
  assert.ok(
    loads.some(([, l]) => l.maxProcessing === l.slots),
    'the engines were driven to their slot count (else the scenario proves nothing)',
  );
});

Then(
  'the replicas raced for slots: pool-managerd answered busy and the tasks were queued again',
  async function (this: ClusterWorld) {
    const cluster = clusterOf(this);
    const busy = await replicasSum(cluster, 'orchd_tasks_dispatched_total', { outcome: 'busy' });
    const requeued = await replicasSum(cluster, 'orchd_admission_enqueued_total', { outcome: 'requeued' });
    this.attach(`busy answers: ${busy}, requeued: ${requeued}`);
    assert.ok(busy > 0, 'pool-managerd answered busy to some replica (the replicas did contend for slots)');
    assert.ok(
      requeued >= busy,
      `every busy answer put its task back in the queue (${requeued} requeued, ${busy} busy)`,
    );
  },
);

Then('the pool-managerds ran every one of those tasks exactly once', async function (this: ClusterWorld) {
  const burst = area(this).burst;
  assert.ok(burst, 'no burst of tasks was sent');
  const ran = (await nodesDispatchedOk(this)) - burst.okBefore;
  assert.equal(ran, burst.ids.length, 'pool-managerds counted one successful dispatch per task');
});

// ---- auth.feature -------------------------------------------------------------------------------------------------

When(
  'I submit task {string} with no credential and correlation id {string}',
  async function (this: ClusterWorld, id: string, correlation: string) {
    await submit(this, taskBody(id, 8), { 'x-correlation-id': correlation });
  },
);

When(
  'I submit task {string} with the bearer {string} and correlation id {string}',
  async function (this: ClusterWorld, id: string, bearer: string, correlation: string) {
    await submit(this, taskBody(id, 8), { authorization: `Bearer ${bearer}`, 'x-correlation-id': correlation });
  },
);

When(
  'I submit task {string} with {int} max tokens and the client key in X-API-Key',
  async function (this: ClusterWorld, id: string, maxTokens: number) {
    const answer = await submit(this, taskBody(id, maxTokens), { 'x-api-key': clusterOf(this).apiKey });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
  },
);

Then(
  'the answer is the error envelope {string} with correlation id {string}',
  function (this: ClusterWorld, code: string, correlation: string) {
    const answer = lastAnswer<ErrorEnvelope>(this);
    assert.equal(answer.body.code, code, JSON.stringify(answer.body));
    assert.equal(typeof answer.body.message, 'string');
    assert.equal(answer.headers['x-correlation-id'], correlation, 'the refusal echoes the correlation id');
  },
);

Then('the answer is the error envelope {string}', function (this: ClusterWorld, code: string) {
  const answer = lastAnswer<ErrorEnvelope>(this);
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
  assert.equal(typeof answer.body.message, 'string');
  assert.ok(answer.headers['x-correlation-id'], 'the answer carries X-Correlation-Id');
});

Then(
  'the answer is the error envelope {string} saying {string}',
  function (this: ClusterWorld, code: string, words: string) {
    const answer = lastAnswer<ErrorEnvelope>(this);
    assert.equal(answer.body.code, code, JSON.stringify(answer.body));
    assert.ok(answer.body.message.includes(words), `the message says "${words}": ${answer.body.message}`);
  },
);

Then('task {string} was never admitted', async function (this: ClusterWorld, id: string) {
  const cluster = clusterOf(this);
  // The admin reaches every task (SEC-6105): a 404 means no identity ever had it.
  const answer = await request(`${cluster.url}/v2/tasks/${id}/events`, {
    headers: { authorization: `Bearer ${cluster.adminKey}` },
    signal: AbortSignal.timeout(ANSWER_MS),
  });
  const text = await answer.body.text();
  assert.equal(answer.statusCode, 404, `task ${id} exists: ${text.slice(0, 300)}`);
  assert.equal((JSON.parse(text) as ErrorEnvelope).code, 'NOT_FOUND');
});

When(
  'I ask to drain pool {string} with the {word} key',
  async function (this: ClusterWorld, pool: string, role: string) {
    const cluster = clusterOf(this);
    assert.ok(role === 'client' || role === 'admin', `no ${role} key`);
    const key = role === 'admin' ? cluster.adminKey : cluster.apiKey;
    this.last = await jsonRequest(`${cluster.url}/v2/pools/${pool}/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: { deadline_ms: 1000 },
      timeoutMs: ANSWER_MS,
    });
  },
);

Then(
  'pool {string} is still ready and not draining on node {string}',
  async function (this: ClusterWorld, pool: string, nodeId: string) {
    // Asked of the node itself (the authority on its pools), so no poll interval needs to pass first.
    const node = clusterOf(this).node(nodeId);
    const answer = await nodeGet(`${node.url}/v2/pools/${pool}/status`, await clusterClient(this));
    assert.ok(
      'status' in answer && answer.status === 200,
      `GET ${pool}'s status from ${nodeId}: ${JSON.stringify(answer)}`,
    );
    const status = JSON.parse(answer.body) as PoolStatus;
    assert.equal(status.draining, false, answer.body);
    assert.equal(status.ready, true, answer.body);
  },
);

Then(
  'pool {string} is draining in orchestratord within one poll interval plus the request timeout',
  async function (this: ClusterWorld, pool: string) {
    const cluster = clusterOf(this);
    await cluster.waitForPools(
      (pools) => pools.some((p) => p.pool_id === pool && p.draining),
      `pool ${pool} draining`,
      onePoll(cluster),
    );
  },
);

Then(
  'pool {string} is drained out of placement in orchestratord within one poll interval plus the request timeout',
  async function (this: ClusterWorld, pool: string) {
    const cluster = clusterOf(this);
    // A drain with nothing in flight is over at once: the pool goes draining, then offline (POOL-3006).
    const pools = await cluster.waitForPools(
      (list) => list.some((p) => p.pool_id === pool && !p.ready && (p.draining || p.state === 'offline')),
      `pool ${pool} draining or drained`,
      onePoll(cluster),
    );
    this.attach(JSON.stringify(pools.find((p) => p.pool_id === pool)));
  },
);

Then(
  "orchestratord logged the drain with the admin key's fingerprint, never the key",
  async function (this: ClusterWorld) {
    const cluster = clusterOf(this);
    const orchestrator = cluster.orchestrators[0];
    assert.ok(orchestrator);
    const line = await waitFor(
      'the drain request in the log with an identity',
      () =>
        orchestrator
          .logs()
          .split('\n')
          .find((l) => l.includes('"pool drain requested"') && /"identity":"key:[^"]+"/.test(l)),
      ANSWER_MS,
    );
    this.attach(line);
    const logs = orchestrator.logs();
    assert.ok(!logs.includes(cluster.adminKey), 'the admin key itself is never logged');
    assert.ok(!logs.includes(cluster.apiKey), 'the client key itself is never logged');
  },
);

When(
  'I ask to drain pool {string} with an OIDC token whose role is {string}',
  async function (this: ClusterWorld, pool: string, role: string) {
    // ORCHD_OIDC_ROLE_CLAIM is unset: the role is the token's llorch_role claim (SEC-6103).
    const token = await issuerOf(this).sign({ subject: `${role}-operator`, claims: { llorch_role: role } });
    this.last = await jsonRequest(`${clusterOf(this).url}/v2/pools/${pool}/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: { deadline_ms: 1000 },
      timeoutMs: ANSWER_MS,
    });
  },
);

Given(
  'orchestratord trusts the test OIDC issuer for audience {string}',
  async function (this: ClusterWorld, audience: string) {
    const issuer = await startOidcIssuer();
    area(this).issuer = issuer;
    assert.equal(this.cluster, undefined, 'the issuer is trusted before the cluster step');
    this.orchestratordEnv['ORCHD_OIDC_ISSUER'] = issuer.issuer;
    this.orchestratordEnv['ORCHD_OIDC_AUDIENCE'] = audience;
  },
);

function issuerOf(world: ClusterWorld): OidcIssuer {
  const issuer = area(world).issuer;
  assert.ok(issuer, 'no OIDC issuer: a Given step starts one');
  return issuer;
}

When(
  'I submit task {string} with {int} max tokens and an OIDC token for subject {string}',
  async function (this: ClusterWorld, id: string, maxTokens: number, subject: string) {
    const token = await issuerOf(this).sign({ subject });
    area(this).token = token;
    await submit(this, taskBody(id, maxTokens), { authorization: `Bearer ${token}` });
  },
);

When('I follow the events of task {string} with that OIDC token', function (this: ClusterWorld, id: string) {
  const token = area(this).token;
  assert.ok(token, 'no OIDC token was used yet');
  follow(this, id, { authorization: `Bearer ${token}` });
});

Then(
  'task {string}, followed with that OIDC token, ends with {string} within {int} seconds',
  async function (this: ClusterWorld, id: string, terminal: string, seconds: number) {
    await endedWith(this, [id], terminal, seconds * 1000);
  },
);

Then(
  'orchestratord logged the identity {string}, never the token',
  async function (this: ClusterWorld, identity: string) {
    const orchestrator = clusterOf(this).orchestrators[0];
    assert.ok(orchestrator);
    await waitFor(
      `the identity ${identity} in the log`,
      () => (orchestrator.logs().includes(`"identity":"${identity}"`) ? true : undefined),
      ANSWER_MS,
    );
    const token = area(this).token;
    assert.ok(token && !orchestrator.logs().includes(token), 'the token itself is never logged');
  },
);

When(
  'I submit task {string} with an OIDC token that expired {int} seconds ago',
  async function (this: ClusterWorld, id: string, seconds: number) {
    const token = await issuerOf(this).sign({ expiresIn: -seconds });
    await submit(this, taskBody(id, 8), { authorization: `Bearer ${token}` });
  },
);

When(
  'I submit task {string} with an OIDC token for audience {string}',
  async function (this: ClusterWorld, id: string, audience: string) {
    const token = await issuerOf(this).sign({ audience });
    await submit(this, taskBody(id, 8), { authorization: `Bearer ${token}` });
  },
);

// ---- tls.feature --------------------------------------------------------------------------------------------------

Then(
  "a client with a certificate from the cluster CA reads pool {string}'s status from node {string}",
  async function (this: ClusterWorld, pool: string, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const answer = await nodeGet(`${node.url}/v2/pools/${pool}/status`, await clusterClient(this));
    assert.ok(
      'status' in answer,
      `the cluster's own client was refused: ${'error' in answer ? answer.error.message : ''}`,
    );
    assert.equal(answer.status, 200, answer.body);
    assert.equal((JSON.parse(answer.body) as PoolStatus).pool_id, pool);
  },
);

Then(
  'a client without a certificate cannot read anything from node {string}',
  async function (this: ClusterWorld, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const { ca } = await clusterClient(this);
    const outcome = await nodeGet(`${node.url}/health`, { ca });
    assertRefusedByNode(outcome, 'a client without a certificate');
    this.attach(
      `without a certificate: ${'error' in outcome ? `${outcome.error.code ?? ''} ${outcome.error.message}` : ''}`,
    );
  },
);

Then(
  'a client with a certificate from another CA cannot read anything from node {string}',
  async function (this: ClusterWorld, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const { ca } = await clusterClient(this);
    const stranger = await issueCertificate(await createCa('another CA'), {
      commonName: 'orchestratord',
      usage: 'client',
    });
    const outcome = await nodeGet(`${node.url}/health`, { ca, ...stranger });
    assertRefusedByNode(outcome, 'a client with another CA’s certificate');
    this.attach(`another CA: ${'error' in outcome ? `${outcome.error.code ?? ''} ${outcome.error.message}` : ''}`);
  },
);

When(
  'task {string} has streamed its first token within {int} seconds',
  async function (this: ClusterWorld, id: string, seconds: number) {
    const record = this.tasks.get(id);
    assert.ok(record, `task ${id} is not followed`);
    await waitFor(
      `task ${id}'s first token`,
      () => (record.events.some((e) => e.event === 'token') ? true : undefined),
      seconds * 1000,
      20,
    );
    assert.ok(!record.events.some(isTerminal), `task ${id} ended already: ${summarize(record.events)}`);
  },
);

When(
  "node {string}'s certificate files are replaced by a new certificate from the cluster CA",
  async function (this: ClusterWorld, nodeId: string) {
    const cluster = clusterOf(this);
    const node = cluster.node(nodeId);
    const files = tlsFilesOf(node);
    const old = await readFile(files.cert, 'utf8');
    const dir = cluster.caDir;
    const ca = await loadCa({
      cert: await readFile(join(dir, 'ca.crt'), 'utf8'),
      key: await readFile(join(dir, 'ca.key'), 'utf8'),
    });
    const next = await issueCertificate(ca, { commonName: nodeId, hosts: hostsOf(old), usage: 'server' });
    // The key first, then its certificate, each by an atomic rename (a check in between refuses the pair and waits).
    await replaceAtomically(files.key, next.key);
    await replaceAtomically(files.cert, next.cert);
    area(this).rotated = { node: nodeId, serial: new X509Certificate(next.cert).serialNumber };
    assert.notEqual(new X509Certificate(old).serialNumber, area(this).rotated?.serial);
  },
);

Then(
  'new connections to node {string} are served the new certificate within {int} seconds',
  async function (this: ClusterWorld, nodeId: string, seconds: number) {
    const rotated = area(this).rotated;
    assert.ok(rotated?.node === nodeId, `node ${nodeId}'s certificate was not replaced`);
    const node = clusterOf(this).node(nodeId);
    const client = await clusterClient(this);
    await waitFor(
      `node ${nodeId} to serve the new certificate`,
      async () => ((await servedSerial(node, client)) === rotated.serial ? true : undefined),
      seconds * 1000,
    );
    markOpen(this, 'the new certificate was served');
  },
);

Then(
  'task {string} streams {int} more tokens within {int} seconds after the new certificate was served',
  async function (this: ClusterWorld, id: string, more: number, seconds: number) {
    await streamedOn(this, id, 'the new certificate was served', more, seconds * 1000);
  },
);

When(
  "node {string}'s certificate file is overwritten with text that is not a certificate",
  async function (this: ClusterWorld, nodeId: string) {
    const node = clusterOf(this).node(nodeId);
    const files = tlsFilesOf(node);
    area(this).kept = { node: nodeId, serial: new X509Certificate(await readFile(files.cert, 'utf8')).serialNumber };
    await replaceAtomically(files.cert, 'not a certificate\n');
  },
);

Then(
  'node {string} refuses the new TLS material within {int} seconds and keeps serving the certificate it had',
  async function (this: ClusterWorld, nodeId: string, seconds: number) {
    const kept = area(this).kept;
    assert.ok(kept?.node === nodeId, `node ${nodeId}'s certificate file was not overwritten`);
    const node = clusterOf(this).node(nodeId);
    const line = await waitFor(
      `node ${nodeId} to log that it refused the new TLS material`,
      () =>
        node
          .logs()
          .split('\n')
          .find((l) => l.includes('TLS material refused')),
      seconds * 1000,
    );
    this.attach(line);
    const refusal = JSON.parse(line) as { level?: number; reason?: string; in_use?: string };
    assert.equal(refusal.level, 50, 'the refusal is logged as an error');
    assert.match(String(refusal.reason), /^certificate: /, 'the reason names the certificate');
    assert.equal(refusal.in_use, kept.serial, 'the refusal names the serial still in use');
    assert.equal(await servedSerial(node, await clusterClient(this)), kept.serial, 'new connections get the old one');
  },
);

// ---- discovery.feature --------------------------------------------------------------------------------------------

Given(
  'a cluster of {int} node(s) with {int} slot(s) each found through DNS',
  async function (this: ClusterWorld, nodes: number, slots: number) {
    this.discovery = 'dns';
    await this.startCluster(
      Array.from({ length: nodes }, (_, i) => ({
        id: `n${i + 1}`,
        pools: [{ id: `p${i + 1}`, slots, ctx: LONG_CTX }],
      })),
    );
  },
);

When(
  'node {string} with pool {string} of {int} slot(s) joins the DNS records',
  async function (this: ClusterWorld, nodeId: string, pool: string, slots: number) {
    await clusterOf(this).addNode({ id: nodeId, pools: [{ id: pool, slots }] });
    area(this).joinedAt = Date.now();
  },
);

Then(
  'orchestratord polls node {string} within one poll interval plus the request timeout of its joining',
  async function (this: ClusterWorld, nodeId: string) {
    const cluster = clusterOf(this);
    const joinedAt = area(this).joinedAt;
    assert.ok(joinedAt !== undefined, 'no node joined');
    const left = Math.max(0, joinedAt + onePoll(cluster) - Date.now());
    await cluster.waitForPools((pools) => pools.some((p) => p.node_id === nodeId), `node ${nodeId} polled`, left);
    this.attach(`node ${nodeId} in orchestratord's pools ${Date.now() - joinedAt} ms after it joined the records`);
  },
);

Then(
  'pool {string} is ready in orchestratord within one poll interval plus the request timeout of node {string} saying so',
  async function (this: ClusterWorld, pool: string, nodeId: string) {
    const cluster = clusterOf(this);
    const node = cluster.node(nodeId);
    const client = await clusterClient(this);
    // The engine of a node that just joined is still starting: ask the node itself (over mutual TLS) when it is ready.
    await waitFor(
      `node ${nodeId} to report pool ${pool} ready`,
      async () => {
        const answer = await nodeGet(`${node.url}/v2/pools/${pool}/status`, client);
        return 'status' in answer && answer.status === 200 && (JSON.parse(answer.body) as PoolStatus).ready
          ? true
          : undefined;
      },
      ENGINE_START_MS,
      50,
    );
    const readyAt = Date.now();
    await cluster.waitForPools(
      (pools) => pools.some((p) => p.pool_id === pool && p.ready),
      `pool ${pool} ready in orchestratord`,
      onePoll(cluster),
    );
    this.attach(`pool ${pool} ready in orchestratord ${Date.now() - readyAt} ms after its node said so`);
  },
);

When('I submit the long task {string}', async function (this: ClusterWorld, id: string) {
  const answer = await submit(this, taskBody(id, LONG_TASK_TOKENS), clusterOf(this).auth);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
});

When('the client of task {string} cancels it', async function (this: ClusterWorld, id: string) {
  const cluster = clusterOf(this);
  const answer = await jsonRequest(`${cluster.url}/v2/tasks/${id}/cancel`, {
    method: 'POST',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
  assert.equal(answer.status, 204, JSON.stringify(answer.body));
});

When(
  'I submit task {string} pinned to pool {string} with {int} max tokens',
  async function (this: ClusterWorld, id: string, pool: string, maxTokens: number) {
    const answer = await submit(
      this,
      taskBody(id, maxTokens, { placement: { mode: 'pin', pin_pool_id: pool } }),
      clusterOf(this).auth,
    );
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
  },
);

When('node {string} is removed from the DNS records', function (this: ClusterWorld, nodeId: string) {
  clusterOf(this).removeFromDns(nodeId);
});

Then(
  "pool {string} leaves orchestratord's pools within one poll interval plus the request timeout",
  async function (this: ClusterWorld, pool: string) {
    const cluster = clusterOf(this);
    const since = Date.now();
    await cluster.waitForPools(
      (pools) => !pools.some((p) => p.pool_id === pool),
      `pool ${pool} gone`,
      onePoll(cluster),
    );
    markOpen(this, `pool ${pool} left`);
    this.attach(`pool ${pool} left orchestratord's pools ${Date.now() - since} ms after its node left the records`);
  },
);

Then(
  'task {string} streams {int} more tokens within {int} seconds after pool {string} left',
  async function (this: ClusterWorld, id: string, more: number, seconds: number, pool: string) {
    await streamedOn(this, id, `pool ${pool} left`, more, seconds * 1000);
  },
);

// ---- metrics.feature ----------------------------------------------------------------------------------------------

Then("orchestratord's \\/metrics, asked without a key, shows", async function (this: ClusterWorld, table: DataTable) {
  const text = await scrape(clusterOf(this).url);
  const wrong: string[] = [];
  for (const { series = '', value = '' } of table.hashes()) {
    const seen = valueOf(text, series);
    const atLeast = /^>=\s*(\d+)$/.exec(value);
    const ok = seen !== undefined && (atLeast ? seen >= Number(atLeast[1]) : seen === Number(value));
    if (!ok) wrong.push(`${series}: expected ${value}, saw ${seen ?? 'no such series'}`);
  }
  assert.deepEqual(wrong, [], 'every series is there with its value');
});

async function metricNow(world: ClusterWorld, series: string): Promise<number> {
  return (await summedOverReplicas(clusterOf(world), series)) ?? 0;
}

When("I note orchestratord's metric {string}", async function (this: ClusterWorld, series: string) {
  area(this).noted.set(series, await metricNow(this, series));
});

async function metricReaches(world: ClusterWorld, series: string, expected: number, budgetMs: number): Promise<void> {
  let seen = NaN;
  const since = Date.now();
  try {
    await waitFor(
      `${series} = ${expected}`,
      async () => {
        seen = valueOf(await scrape(clusterOf(world).url), series) ?? NaN;
        return seen === expected ? true : undefined;
      },
      budgetMs,
      50,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen ${seen}`, { cause: error });
  }
  world.attach(`${series} = ${expected} after ${Date.now() - since} ms (budget ${budgetMs} ms)`);
}

Then(
  "orchestratord's metric {string} reaches {int} within {int} seconds",
  async function (this: ClusterWorld, series: string, expected: number, seconds: number) {
    await metricReaches(this, series, expected, seconds * 1000);
  },
);

Then(
  "orchestratord's metric {string} reaches {int} within one poll interval plus the request timeout",
  async function (this: ClusterWorld, series: string, expected: number) {
    await metricReaches(this, series, expected, onePoll(clusterOf(this)));
  },
);

Then("orchestratord's metric {string} is {int}", async function (this: ClusterWorld, series: string, expected: number) {
  assert.equal(valueOf(await scrape(clusterOf(this).url), series), expected, series);
});

function notedOf(world: ClusterWorld, series: string): number {
  const noted = area(world).noted.get(series);
  assert.ok(noted !== undefined, `${series} was not noted first`);
  return noted;
}

Then("orchestratord's metric {string} rose by {int}", async function (this: ClusterWorld, series: string, by: number) {
  const before = notedOf(this, series);
  let now = before;
  await waitFor(
    `${series} to rise by ${by}`,
    async () => {
      now = await metricNow(this, series);
      return now - before >= by ? true : undefined;
    },
    COUNTER_SETTLE_MS,
    50,
  ).catch(() => undefined); // the exact comparison below says what was seen
  assert.equal(now - before, by, `${series} went from ${before} to ${now}`);
});

Then(
  "orchestratord's metric {string} rose by at least {int}",
  async function (this: ClusterWorld, series: string, by: number) {
    const before = notedOf(this, series);
    const now = await metricNow(this, series);
    assert.ok(now - before >= by, `${series} went from ${before} to ${now}`);
  },
);

When("node {string}'s link is cut", async function (this: ClusterWorld, nodeId: string) {
  await clusterOf(this).node(nodeId).partition('link');
});

When("node {string}'s link is restored", async function (this: ClusterWorld, nodeId: string) {
  await clusterOf(this).node(nodeId).heal();
});
