/**
 * Steps of tasks.feature: native task submission and its event stream.
 */
import assert from 'node:assert/strict';
import { Given, Then, When, type DataTable } from '@cucumber/cucumber';
import { AdmissionResponseSchema, validate, type AdmissionResponse, type ErrorEnvelope } from '@llama-orch/contracts';
import { jsonRequest } from '../../../src/http-json.ts';
import { waitFor } from '../../../src/processes.ts';
import { summarize } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';
import {
  ANSWER_MS,
  STILL_STREAMING_MS,
  lastAnswer,
  endless,
  submitTask,
  eventsOf,
  tokenCount,
} from '../support/task-helpers.ts';

Then(
  'the admission of task {string} names its id, queue position {int} and the stream {string}',
  function (this: ClusterWorld, id: string, position: number, stream: string) {
    const admission = this.tasks.get(id)?.admission;
    assert.ok(admission, `task ${id} has no admission answer`);
    const checked = validate(AdmissionResponseSchema, admission.body);
    assert.ok(checked.ok, `the 202 body is an AdmissionResponse: ${JSON.stringify(admission.body)}`);
    const body = admission.body as AdmissionResponse;
    const wire = this.wireId(id);
    assert.equal(body.task_id, wire);
    assert.equal(body.queue_position, position);
    // The feature names the stream by the logical id; the answer names it by the id that was sent.
    const sse = stream
      .split('/')
      .map((part) => (part === id ? wire : part))
      .join('/');
    assert.equal(body.streams.sse, sse);
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

When('I submit a never-ending task {string} with another prompt', async function (this: ClusterWorld, id: string) {
  await submitTask(this, { ...endless(id), prompt: 'Something else entirely:' });
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
  this.last = await jsonRequest(`${cluster.url}/v2/tasks/${this.wireId(id)}/events`, {
    headers: cluster.auth,
    timeoutMs: ANSWER_MS,
  });
});
