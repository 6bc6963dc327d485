import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Activity, FINISHED_KEPT, HISTORY_SECONDS, quantile } from '../src/overview/activity.ts';
import { overviewTask } from '../src/overview/task-row.ts';
import { Task, type TaskSpec } from '../src/tasks/task.ts';

const spec = (id: string): TaskSpec => ({
  id,
  model: 'demo',
  priority: 'interactive',
  sessionId: undefined,
  deadlineMs: undefined,
  placement: undefined,
  engine: { endpoint: '/completion', body: { prompt: 'x', n_predict: 100, stream: true } },
});

/** An Activity on a clock the test moves, over a set of live tasks the test keeps. */
function world() {
  // Tasks stamp their times with Date.now(): the test's clock starts there.
  let now = Date.now();
  const live = new Set<Task>();
  const activity = new Activity(
    () => live,
    () => now,
  );
  const admit = (id: string): Task => {
    const task = new Task(spec(id));
    live.add(task);
    activity.admitted(task);
    task.onEnd(() => live.delete(task));
    return task;
  };
  const tokens = (task: Task, n: number): void => {
    for (let i = 0; i < n; i += 1) task.emit({ event: 'token', data: { t: 'x', i } });
  };
  const end = (task: Task): void => {
    task.emit({ event: 'end', data: { tokens_out: task.tokensOut(), decode_ms: 1 } });
  };
  return { activity, admit, tokens, end, advance: (ms: number) => (now += ms), now: () => now };
}

describe('the operator page’s activity (issue 20)', () => {
  test('tokens per second count live and ended tasks once each; tasks per second count ends', () => {
    const { activity, admit, tokens, end, advance } = world();
    activity.start();
    activity.stop(); // ticks are driven by hand below
    const a = admit('a');
    const b = admit('b');
    a.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0 } });
    tokens(a, 30);
    tokens(b, 10);
    advance(1_000);
    assert.deepEqual([activity.tick().tokens_per_s, activity.points().at(-1)?.tasks_per_s], [40, 0]);
    tokens(a, 5);
    end(a); // its 35 tokens move from live to ended: the 5 new ones count, the 30 old ones not again
    advance(1_000);
    const second = activity.tick();
    assert.deepEqual([second.tokens_per_s, second.tasks_per_s], [5, 1]);
    // Rates are per real second: a tick 2 s after the last one halves the count.
    tokens(b, 20);
    advance(2_000);
    assert.equal(activity.tick().tokens_per_s, 10);
  });

  test('first-token latency: p50 and p95 over the last 10 s, from admission to the first token', () => {
    const { activity, admit, tokens, advance } = world();
    const latencies = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
    for (const [i, ms] of latencies.entries()) {
      const task = admit(`t${i}`);
      task.firstTokenAt = task.admittedAt + ms; // as if its first token had come `ms` after admission
      tokens(task, 1);
    }
    advance(1_000);
    const point = activity.tick();
    assert.deepEqual([point.first_token_p50_ms, point.first_token_p95_ms], [500, 1000]);
    advance(11_000);
    const later = activity.tick();
    assert.deepEqual([later.first_token_p50_ms, later.first_token_p95_ms], [null, null], 'older than 10 s: gone');
  });

  test(`keeps ${HISTORY_SECONDS} seconds and the ${FINISHED_KEPT} latest finished tasks, newest first`, () => {
    const { activity, admit, end, advance } = world();
    for (let i = 0; i < HISTORY_SECONDS + 20; i += 1) {
      advance(1_000);
      activity.tick();
    }
    assert.equal(activity.points().length, HISTORY_SECONDS);
    for (let i = 0; i < FINISHED_KEPT + 5; i += 1) end(admit(`f${i}`));
    const finished = activity.finished();
    assert.equal(finished.length, FINISHED_KEPT);
    assert.equal(finished[0]?.task_id, `f${FINISHED_KEPT + 4}`);
  });

  test('a client keeps its own latest finished tasks however many others finish after them', () => {
    const { activity } = world();
    const own = new Task({ ...spec('mine'), owner: 'alice' });
    activity.admitted(own);
    own.emit({ event: 'end', data: { tokens_out: 0, decode_ms: 0 } });
    for (let i = 0; i < FINISHED_KEPT + 10; i += 1) {
      const other = new Task({ ...spec(`other-${i}`), owner: 'bob' });
      activity.admitted(other);
      other.emit({ event: 'end', data: { tokens_out: 0, decode_ms: 0 } });
    }
    assert.ok(!activity.finished().some((f) => f.task_id === 'mine'), 'pushed out of the latest of all');
    assert.deepEqual(
      activity.finished('alice').map((f) => f.task_id),
      ['mine'],
    );
    assert.equal(activity.finished('bob').length, FINISHED_KEPT);
  });

  test('a failing listener costs its own picture only; stopping tells every follower once', () => {
    const { activity, advance } = world();
    const heard: string[] = [];
    activity.onTick(() => {
      throw new Error('a broken stream');
    });
    activity.onTick(() => heard.push('tick'));
    activity.onStop(() => heard.push('stop'));
    advance(1_000);
    activity.tick();
    activity.start();
    activity.start(); // idempotent: one timer
    activity.stop();
    activity.stop();
    assert.deepEqual(heard, ['tick', 'stop']);
  });

  test('429 answers are counted over the last 60 s', () => {
    const { activity, advance } = world();
    for (let i = 0; i < 3; i += 1) activity.rejected();
    advance(30_000);
    activity.rejected();
    assert.equal(activity.rejectedLastMinute(), 4);
    advance(31_000);
    assert.equal(activity.rejectedLastMinute(), 1, 'the first three are older than a minute');
    advance(60_000);
    assert.equal(activity.rejectedLastMinute(), 0);
  });

  test('a task row: decode rate after the first token, first-token time, age; once ended its outcome', () => {
    const { admit, tokens, end, advance, now } = world();
    const task = admit('row');
    const admittedAt = task.admittedAt;
    task.state = 'running'; // as the scheduler does when it places the task
    task.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0 } });
    tokens(task, 1);
    const firstAt = task.firstTokenAt ?? 0;
    tokens(task, 20);
    const row = overviewTask(task, undefined, firstAt + 2_000);
    assert.equal(row.tokens_per_s, 10, '20 tokens after the first, over 2 s');
    assert.equal(row.first_token_ms, firstAt - admittedAt);
    assert.equal(row.state, 'running');
    end(task);
    advance(0);
    const done = overviewTask(task, undefined, now());
    assert.equal(done.outcome, 'stop');
    assert.equal(done.state, 'ended');
  });

  test('quantile: nearest rank', () => {
    assert.equal(quantile([], 0.5), null);
    assert.equal(quantile([7], 0.95), 7);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.95), 4);
  });
});
