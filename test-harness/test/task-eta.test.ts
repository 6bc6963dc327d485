import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  QueuedEventSchema,
  TaskStatusSchema,
  validate,
  type AdmissionResponse,
  type ErrorEnvelope,
  type TaskStatus,
} from '@llama-orch/contracts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize, type SseEvent } from '../src/sse.ts';

const OWNER = 'sk-eta-owner-0123456789abcdef';
const OTHER = 'sk-eta-other-0123456789abcdef';
const ADMIN = 'sk-eta-admin-0123456789abcdef';
const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe('a waiting client learns its position and predicted start (issue 19)', { timeout: 10 * 60_000 }, () => {
  test('GET /v2/tasks/{id} answers state, position, predicted start, pool, tokens and outcome to its owner and admins only; a stream that asks gets a queued event at once and every 2 s, others never', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]], {
      ORCHD_API_KEYS: `${OWNER},${OTHER},${ADMIN} admin`,
    });
    t.after(cluster.cleanup);
    const url = cluster.url;
    const submit = (body: Record<string, unknown>) =>
      jsonRequest<AdmissionResponse & ErrorEnvelope>(`${url}/v2/tasks`, { method: 'POST', body, headers: as(OWNER) });
    const status = async (id: string, key = OWNER) => {
      const answer = await jsonRequest<TaskStatus & ErrorEnvelope>(`${url}/v2/tasks/${id}`, { headers: as(key) });
      if (answer.status === 200) assert.ok(validate(TaskStatusSchema, answer.body).ok, JSON.stringify(answer.body));
      return answer;
    };

    const hog = { task_id: 'hog', model_ref: 'demo', prompt: 'Go on:', max_tokens: 1_000_000, ignore_eos: true };
    assert.equal((await submit(hog)).status, 202);
    const running = await waitFor(
      'the hog to run',
      async () => {
        const answer = await status('hog');
        return answer.body.state === 'running' && answer.body.tokens_out > 0 ? answer.body : undefined;
      },
      30_000,
    );
    assert.equal(running.pool_id, 'demo');
    assert.equal(running.position, undefined);

    const admitted = await submit({ task_id: 'waiting', model_ref: 'demo', prompt: 'x', max_tokens: 4 });
    assert.equal(admitted.status, 202);
    assert.equal(admitted.body.queue_position, 0);
    assert.ok(admitted.body.predicted_start_ms > 0, 'a task behind a running one predicts a wait');
    const queued = await status('waiting');
    assert.equal(queued.status, 200);
    assert.deepEqual(
      { state: queued.body.state, position: queued.body.position, tokens_out: queued.body.tokens_out },
      { state: 'queued', position: 0, tokens_out: 0 },
    );
    assert.ok(Number.isInteger(queued.body.predicted_start_ms), JSON.stringify(queued.body));
    assert.equal(queued.body.pool_id, undefined, 'not placed yet');

    assert.equal((await status('waiting', OTHER)).status, 404, 'another client learns nothing');
    assert.equal((await status('waiting', OTHER)).body.code, 'NOT_FOUND');
    assert.equal((await status('waiting', ADMIN)).body.state, 'queued', 'an admin reads it');
    assert.equal((await status('no-such-task')).status, 404);

    // Two followers of the waiting task: one asks for queued events, one does not. After two queued events the hog
    // is canceled, the waiting task runs, and both streams end.
    const queuedAt: number[] = [];
    const asking = followEvents(`${url}/v2/tasks/waiting/events?queued=true`, {
      headers: as(OWNER),
      onEvent: (event) => {
        if (event.event !== 'queued') return;
        queuedAt.push(Date.now());
        if (queuedAt.length === 2)
          void jsonRequest(`${url}/v2/tasks/hog/cancel`, { method: 'POST', headers: as(OWNER) });
      },
    });
    const plain = followEvents(`${url}/v2/tasks/waiting/events`, { headers: as(OWNER) });
    const [withQueued, without] = await Promise.all([asking, plain]);
    const names = (events: SseEvent[]) => events.map((e) => e.event);
    const firstStarted = names(withQueued.events).indexOf('started');
    assert.ok(firstStarted >= 2, `queued events come before the start: ${summarize(withQueued.events)}`);
    assert.deepEqual(
      names(withQueued.events).slice(0, firstStarted),
      new Array<string>(firstStarted).fill('queued'),
      summarize(withQueued.events),
    );
    for (const event of withQueued.events.slice(0, firstStarted)) {
      assert.ok(validate(QueuedEventSchema, event.data).ok, JSON.stringify(event.data));
      assert.equal(event.data['position'], 0);
      assert.equal(event.data['queue_depth'], 1);
    }
    const gap = (queuedAt[1] ?? 0) - (queuedAt[0] ?? 0);
    assert.ok(gap >= 1_500 && gap <= 4_000, `the second queued event follows the first after about 2 s (${gap} ms)`);
    assert.deepEqual(names(withQueued.events).slice(firstStarted), [
      'started',
      'token',
      'token',
      'token',
      'token',
      'end',
    ]);
    assert.deepEqual(names(without.events), ['started', 'token', 'token', 'token', 'token', 'end'], 'no queued event');

    const ended = await status('waiting');
    assert.deepEqual(
      {
        state: ended.body.state,
        pool_id: ended.body.pool_id,
        tokens_out: ended.body.tokens_out,
        outcome: ended.body.outcome,
        position: ended.body.position,
        predicted_start_ms: ended.body.predicted_start_ms,
      },
      {
        state: 'ended',
        pool_id: 'demo',
        tokens_out: 4,
        outcome: 'length',
        position: undefined,
        predicted_start_ms: undefined,
      },
    );
    const canceled = await status('hog');
    assert.equal(canceled.body.state, 'canceled');
    assert.equal(canceled.body.outcome, 'canceled');
  });
});
