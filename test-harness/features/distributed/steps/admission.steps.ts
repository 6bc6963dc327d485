/**
 * Steps of admission.feature: admission on a busy cluster.
 */
import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import type { AdmissionResponse, ErrorEnvelope } from '@llama-orch/contracts';
import { jsonRequest } from '../../../src/http-json.ts';
import { waitFor } from '../../../src/processes.ts';
import { STREAM_BUDGET_MS } from '../../../src/sse.ts';
import type { ClusterWorld } from '../support/world.ts';
import {
  ANSWER_MS,
  FIRST_TOKEN_MS,
  ENDLESS_FOLLOW_MS,
  area,
  lastAnswer,
  endless,
  submitTask,
  followOwn,
  eventsOf,
  tokenCount,
} from '../support/task-helpers.ts';

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
  const answer = await jsonRequest(`${cluster.url}/v2/tasks/${this.wireId(id)}/cancel`, {
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
