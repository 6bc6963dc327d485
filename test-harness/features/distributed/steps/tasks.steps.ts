/**
 * Steps of tasks.feature, openai.feature and admission.feature: native task submission and its event stream,
 * the OpenAI-compatible routes through the official `openai` client, and admission on a busy cluster.
 */
import assert from 'node:assert/strict';
import { Given, Then, When, type DataTable } from '@cucumber/cucumber';
import OpenAI from 'openai';
import {
  AdmissionResponseSchema,
  ChatCompletionSchema,
  validate,
  type AdmissionResponse,
  type ErrorEnvelope,
} from '@llama-orch/contracts';
import { jsonRequest, type JsonAnswer } from '../../../src/http-json.ts';
import { waitFor } from '../../../src/processes.ts';
import { followEvents, summarize, STREAM_BUDGET_MS, within, type SseEvent } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';

/** How long one plain request may take (the cluster is up; nothing here waits for an engine to start). */
const ANSWER_MS = 15_000;
/** How long a never-ending task may take to send its first token. */
const FIRST_TOKEN_MS = 20_000;
/** How long a running task may pause between tokens before it no longer counts as streaming. */
const STILL_STREAMING_MS = 5_000;
/** A never-ending task is followed this long at most; the cluster's stop ends it sooner. */
const ENDLESS_FOLLOW_MS = 10 * 60_000;

/**
 * What these features remember beyond the World's own fields, per scenario. Streams these steps follow themselves
 * (a task that holds the slot, a shared timeline) are kept here, apart from the World's task records, which belong
 * to the common follow step.
 */
interface AreaState {
  /** `<task>:<event>` in arrival order, over every stream followed on the one timeline. */
  readonly timeline: string[];
  /** Events of the tasks these steps follow themselves. */
  readonly streams: Map<string, SseEvent[]>;
  stream?: { pieces: number; finish: string | null; completionTokens: number | null };
  models?: string[];
}
const areas = new WeakMap<ClusterWorld, AreaState>();
function area(world: ClusterWorld): AreaState {
  let state = areas.get(world);
  if (!state) {
    state = { timeline: [], streams: new Map() };
    areas.set(world, state);
  }
  return state;
}

function lastAnswer<T>(world: ClusterWorld): JsonAnswer<T> {
  assert.ok(world.last, 'no HTTP answer yet');
  return world.last as JsonAnswer<T>;
}

/** A task that runs until its context is full (minutes with a large context): it holds its slot. */
const endless = (id: string): Record<string, unknown> => ({
  task_id: id,
  model_ref: 'demo',
  prompt: 'Go on:',
  max_tokens: 1_000_000,
  ignore_eos: true,
});

/** POST /v2/tasks with the client key; the answer becomes `last`, and the first answer for a task id its admission. */
async function submitTask(world: ClusterWorld, body: Record<string, unknown>): Promise<JsonAnswer<unknown>> {
  const cluster = world.running;
  const answer = await jsonRequest(`${cluster.url}/v2/tasks`, {
    method: 'POST',
    body,
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
  world.last = answer;
  const id = body['task_id'];
  if (typeof id === 'string') world.task(id).admission ??= answer;
  return answer;
}

/** Follow a task's events in the background into this area's own record; the cluster's stop ends the stream. */
function followOwn(world: ClusterWorld, id: string, timeoutMs: number, onEvent?: (event: SseEvent) => void): void {
  const cluster = world.running;
  const events: SseEvent[] = [];
  area(world).streams.set(id, events);
  followEvents(`${cluster.url}/v2/tasks/${encodeURIComponent(id)}/events`, {
    headers: cluster.auth,
    timeoutMs,
    onEvent: (event) => {
      events.push(event);
      onEvent?.(event);
    },
  }).catch(() => undefined); // what it saw is what the steps check; a cut stream shows there
}

/** The events seen of a task: from this area's own follow, or else from the common follow step. */
function eventsOf(world: ClusterWorld, id: string): SseEvent[] {
  const own = area(world).streams.get(id);
  if (own) return own;
  const record = world.tasks.get(id);
  assert.ok(record?.followed, `task ${id} is not followed: a step "I follow the events of task" comes first`);
  return record.events;
}

const tokenCount = (events: readonly SseEvent[]): number => events.filter((e) => e.event === 'token').length;

function openaiClient(world: ClusterWorld): OpenAI {
  const cluster = world.running;
  return new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: cluster.apiKey, maxRetries: 0, timeout: STREAM_BUDGET_MS });
}

// ---- tasks.feature -------------------------------------------------------------------------------------------

Then(
  'the admission of task {string} names its id, queue position {int} and the stream {string}',
  function (this: ClusterWorld, id: string, position: number, stream: string) {
    const admission = this.tasks.get(id)?.admission;
    assert.ok(admission, `task ${id} has no admission answer`);
    const checked = validate(AdmissionResponseSchema, admission.body);
    assert.ok(checked.ok, `the 202 body is an AdmissionResponse: ${JSON.stringify(admission.body)}`);
    const body = admission.body as AdmissionResponse;
    assert.equal(body.task_id, id);
    assert.equal(body.queue_position, position);
    assert.equal(body.streams.sse, stream);
  },
);

When(
  'I submit task {string} that must stream exactly {int} tokens',
  async function (this: ClusterWorld, id: string, tokens: number) {
    const answer = await submitTask(this, {
      task_id: id,
      model_ref: 'demo',
      prompt: 'Once upon a time',
      max_tokens: tokens,
      ignore_eos: true,
    });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
  },
);

Then(
  'the events of task {string} are started, {int} tokens numbered from 0 with metrics between them, and one end counting {int} tokens',
  function (this: ClusterWorld, id: string, tokens: number, counted: number) {
    const events = eventsOf(this, id);
    const names = events.map((e) => e.event).join(',');
    assert.match(names, /^started,(token,|metrics,)*end$/, summarize(events));
    const streamed = events.filter((e) => e.event === 'token');
    assert.equal(streamed.length, tokens);
    streamed.forEach((e, i) => assert.equal(e.data['i'], i, `token ${i} is numbered ${String(e.data['i'])}`));
    const metrics = events.findIndex((e) => e.event === 'metrics');
    assert.ok(metrics > 1, `a metrics event comes between tokens: ${summarize(events)}`);
    assert.equal(events.at(-1)?.data['tokens_out'], counted, 'end counts the tokens streamed');
  },
);

Given(
  'a cluster of {int} node(s) with {int} slot(s) and a context of {int} tokens',
  async function (this: ClusterWorld, nodes: number, slots: number, ctx: number) {
    await this.startCluster(
      Array.from({ length: nodes }, (_, i) => ({ id: `n${i + 1}`, pools: [{ id: `p${i + 1}`, slots, ctx }] })),
    );
  },
);

When('I submit a never-ending task {string}', async function (this: ClusterWorld, id: string) {
  await submitTask(this, endless(id));
});

Then('the refusal is the error envelope {string}', function (this: ClusterWorld, code: string) {
  const body = lastAnswer<ErrorEnvelope>(this).body;
  assert.equal(body.code, code, JSON.stringify(body));
  assert.ok(body.message.length > 0, 'the envelope says why');
});

Then('task {string} is still streaming tokens', async function (this: ClusterWorld, id: string) {
  const events = eventsOf(this, id);
  const before = tokenCount(events);
  await waitFor(
    `task ${id} to stream more than ${before} tokens`,
    () => (tokenCount(events) > before ? true : undefined),
    STILL_STREAMING_MS,
  );
  const terminal = events.filter((e) => e.event === 'end' || e.event === 'error');
  assert.deepEqual(terminal, [], `task ${id} has not ended: ${summarize(events)}`);
});

Then(
  'each of these task bodies is refused with 400 INVALID_PARAMS naming its field:',
  async function (this: ClusterWorld, table: DataTable) {
    const cluster = this.running;
    for (const { body, field } of table.hashes() as { body: string; field: string }[]) {
      const answer = await jsonRequest<ErrorEnvelope>(`${cluster.url}/v2/tasks`, {
        method: 'POST',
        body: JSON.parse(body) as unknown,
        headers: cluster.auth,
        timeoutMs: ANSWER_MS,
      });
      assert.equal(answer.status, 400, `${body}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, 'INVALID_PARAMS', body);
      assert.ok(
        answer.body.message.startsWith(`${field}: `),
        `${body}: the message names ${field}: ${answer.body.message}`,
      );
    }
  },
);

When('I ask for the events of task {string}', async function (this: ClusterWorld, id: string) {
  const cluster = this.running;
  this.last = await jsonRequest(`${cluster.url}/v2/tasks/${id}/events`, {
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
});

// ---- openai.feature ------------------------------------------------------------------------------------------

When(
  'I ask for a chat completion of {int} tokens without streaming',
  async function (this: ClusterWorld, tokens: number) {
    const cluster = this.running;
    this.last = await jsonRequest(`${cluster.url}/v1/chat/completions`, {
      method: 'POST',
      headers: cluster.auth,
      timeoutMs: STREAM_BUDGET_MS,
      body: { model: 'demo', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: tokens, ignore_eos: true },
    });
  },
);

Then(
  'the answer is a chat.completion of {int} completion tokens whose usage adds up',
  function (this: ClusterWorld, tokens: number) {
    const body = lastAnswer<unknown>(this).body;
    const checked = validate(ChatCompletionSchema, body);
    assert.ok(checked.ok, `a ChatCompletion: ${JSON.stringify(body)}`);
    const completion = checked.value;
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'demo');
    assert.equal(completion.choices[0]?.message.role, 'assistant');
    assert.ok((completion.choices[0]?.message.content ?? '').length > 0, 'the answer has text');
    assert.equal(completion.choices[0]?.finish_reason, 'length');
    assert.equal(completion.usage.completion_tokens, tokens);
    assert.ok(completion.usage.prompt_tokens > 0, 'the prompt was counted');
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  },
);

When(
  'the openai client streams a chat completion of {int} tokens with usage',
  async function (this: ClusterWorld, tokens: number) {
    const client = openaiClient(this);
    const stream = { pieces: 0, finish: null as string | null, completionTokens: null as number | null };
    area(this).stream = stream;
    await within(
      'the streamed chat completion',
      STREAM_BUDGET_MS,
      async (signal) => {
        const chunks = await client.chat.completions.create(
          {
            model: 'demo',
            messages: [{ role: 'user', content: 'Count' }],
            max_tokens: tokens,
            stream: true,
            stream_options: { include_usage: true },
            ...({ ignore_eos: true } as object), // a llama.cpp extension: it passes through to the engine
          },
          { signal },
        );
        for await (const chunk of chunks) {
          if (chunk.choices[0]?.delta.content) stream.pieces += 1;
          stream.finish = chunk.choices[0]?.finish_reason ?? stream.finish;
          if (chunk.usage) stream.completionTokens = chunk.usage.completion_tokens;
        }
      },
      () => `${stream.pieces} content chunks, finish_reason ${stream.finish ?? 'none'}`,
    );
  },
);

Then(
  'the stream brought {int} content chunks, the finish_reason {string} and a usage of {int} completion tokens',
  function (this: ClusterWorld, pieces: number, finish: string, tokens: number) {
    const stream = area(this).stream;
    assert.ok(stream, 'no stream was followed');
    assert.equal(stream.pieces, pieces);
    assert.equal(stream.finish, finish);
    assert.equal(stream.completionTokens, tokens);
  },
);

When('the openai client lists the models', async function (this: ClusterWorld) {
  const models = await openaiClient(this).models.list();
  area(this).models = models.data.map((m) => m.id);
});

Then('the models are {string}', function (this: ClusterWorld, list: string) {
  assert.deepEqual(area(this).models, list.split(','));
});

When('I ask for a chat completion of the model {string}', async function (this: ClusterWorld, model: string) {
  const cluster = this.running;
  this.last = await jsonRequest(`${cluster.url}/v1/chat/completions`, {
    method: 'POST',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
    body: { model, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 },
  });
});

Then(
  'the answer is an OpenAI error of type {string} and code {string}',
  function (this: ClusterWorld, type: string, code: string) {
    const body = lastAnswer<{ error?: { message?: unknown; type?: unknown; code?: unknown } }>(this).body;
    assert.ok(body.error, `OpenAI's {error:{…}} shape: ${JSON.stringify(body)}`);
    assert.equal(body.error.type, type);
    assert.equal(body.error.code, code);
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0, 'the error says why');
  },
);

Then(
  'the openai client raises an APIError {int} {string} for the model {string}',
  async function (this: ClusterWorld, status: number, code: string, model: string) {
    await assert.rejects(
      openaiClient(this).chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError, `an APIError: ${String(error)}`);
        assert.equal(error.status, status);
        assert.equal(error.code, code);
        return true;
      },
    );
  },
);

// ---- admission.feature ---------------------------------------------------------------------------------------

Given('the only slot is busy with the never-ending task {string}', async function (this: ClusterWorld, id: string) {
  const answer = await submitTask(this, endless(id));
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  followOwn(this, id, ENDLESS_FOLLOW_MS);
  const events = eventsOf(this, id);
  await waitFor(`the first token of task ${id}`, () => (tokenCount(events) > 0 ? true : undefined), FIRST_TOKEN_MS);
});

Then('task {string} is queued at position {int}', function (this: ClusterWorld, id: string, position: number) {
  const admission = this.tasks.get(id)?.admission;
  assert.ok(admission, `task ${id} has no admission answer`);
  assert.equal(admission.status, 202, JSON.stringify(admission.body));
  const body = admission.body as AdmissionResponse;
  assert.equal(body.queue_position, position);
  assert.ok(body.predicted_start_ms > 0, 'a queued task predicts a wait');
});

Then(
  'the refusal is {string} under policy {string} with Retry-After and X-Backoff-Ms matching its retry_after_ms',
  function (this: ClusterWorld, code: string, policy: string) {
    const answer = lastAnswer<ErrorEnvelope>(this);
    assert.equal(answer.body.code, code, JSON.stringify(answer.body));
    assert.equal(answer.body.policy_label, policy);
    const retryAfterMs = answer.body.retry_after_ms;
    assert.ok(
      retryAfterMs !== undefined && retryAfterMs > 0,
      `a computed retry_after_ms: ${JSON.stringify(answer.body)}`,
    );
    assert.equal(answer.headers['x-backoff-ms'], String(retryAfterMs));
    assert.equal(answer.headers['retry-after'], String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  },
);

When('the never-ending task {string} is canceled', async function (this: ClusterWorld, id: string) {
  const cluster = this.running;
  const answer = await jsonRequest(`${cluster.url}/v2/tasks/${id}/cancel`, {
    method: 'POST',
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
  assert.equal(answer.status, 204, JSON.stringify(answer.body));
});

When(
  'I follow the events of tasks {string} and {string} on one timeline',
  function (this: ClusterWorld, first: string, second: string) {
    const { timeline } = area(this);
    for (const id of [first, second]) followOwn(this, id, STREAM_BUDGET_MS, (e) => timeline.push(`${id}:${e.event}`));
  },
);

Then('task {string} started before task {string}', function (this: ClusterWorld, earlier: string, later: string) {
  const { timeline } = area(this);
  const startOf = (id: string): number => timeline.indexOf(`${id}:started`);
  assert.ok(startOf(earlier) >= 0 && startOf(later) >= 0, `both started: ${timeline.join(' ')}`);
  assert.ok(startOf(earlier) < startOf(later), `${earlier} started before ${later}: ${timeline.join(' ')}`);
});

When(
  'I submit task {string} with {int} max tokens and a deadline of {int} ms',
  async function (this: ClusterWorld, id: string, tokens: number, deadlineMs: number) {
    await submitTask(this, {
      task_id: id,
      model_ref: 'demo',
      prompt: 'Once upon a time',
      max_tokens: tokens,
      deadline_ms: deadlineMs,
    });
  },
);
