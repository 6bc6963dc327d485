import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdmissionQueue } from '../src/admission/admission-queue.ts';
import { EXACT_AHEAD, QUEUED_EVENT_MS, QueueEta } from '../src/tasks/queue-eta.ts';
import { PoolServiceModel, ServiceTimes, WorkSum, workOf, type TaskWork } from '../src/tasks/service-times.ts';
import { StartForecast } from '../src/tasks/start-forecast.ts';
import { Task, type TaskSpec } from '../src/tasks/task.ts';
import { poolView } from './pool-view-fixture.ts';

const work = (maxTokens: number | null, promptChars = 40, expectedTokens: number | null = null): TaskWork => ({
  promptChars,
  maxTokens,
  expectedTokens,
  streamed: true,
});

/** A pool model taught by tasks that took exactly overhead + tokens_in × prefill + (tokens_out − 1) × decode. */
function taught(
  rates: { overheadMs: number; prefillMs: number; decodeMs: number },
  fill = 1,
  n = 60,
): PoolServiceModel {
  const model = new PoolServiceModel();
  for (let i = 0; i < n; i += 1) {
    const tokensIn = 10 + ((i * 37) % 200);
    const maxTokens = 16 + ((i * 53) % 113);
    const tokensOut = Math.round(maxTokens * fill);
    const firstTokenMs = rates.overheadMs + rates.prefillMs * tokensIn;
    model.observe({
      work: work(maxTokens, tokensIn * 4),
      tokensIn,
      tokensOut,
      startLagMs: 3,
      firstTokenMs,
      totalMs: firstTokenMs + rates.decodeMs * (tokensOut - 1),
    });
  }
  return model;
}

const spec = (id: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({
  id,
  model: 'demo',
  priority: 'interactive',
  sessionId: undefined,
  deadlineMs: undefined,
  placement: undefined,
  engine: { endpoint: '/completion', body: { prompt: 'x'.repeat(40), n_predict: 100, stream: true } },
  ...extra,
});

/** A scheduler's view of one pool: the real admission queue, one QueueEta over it, the pool's taught model. */
function world(slots: number, decodeMs = 10) {
  const queue = new AdmissionQueue<Task>(100_000, 'reject');
  const times = new ServiceTimes();
  const model = times.model('p');
  for (let i = 0; i < 30; i += 1)
    model.observe({
      work: work(100),
      tokensIn: 10,
      tokensOut: 100,
      startLagMs: 0,
      firstTokenMs: 0,
      totalMs: decodeMs * 99,
    });
  const eta = new QueueEta(times, () => [poolView('p', { slots_total: slots })], queue);
  const admit = (task: Task): number => {
    const outcome = queue.enqueue({ id: task.id, priority: task.spec.priority, item: task });
    assert.equal(outcome.kind, 'queued');
    const predicted = eta.atAdmission(task, outcome.kind === 'queued' ? outcome.position : -1);
    eta.enqueued(task);
    return predicted;
  };
  const run = (task: Task): void => {
    queue.remove(task.id);
    task.poolId = 'p';
    eta.dispatched(task);
  };
  return { queue, eta, model, admit, run };
}

describe('service-time model', () => {
  test('a pool learns overhead, prefill per prompt token and decode per output token from finished tasks', () => {
    const model = taught({ overheadMs: 40, prefillMs: 0.5, decodeMs: 10 });
    assert.ok(Math.abs(model.rates.overheadMs - 40) < 1, `overhead ${model.rates.overheadMs}`);
    assert.ok(Math.abs(model.rates.prefillMs - 0.5) < 0.02, `prefill ${model.rates.prefillMs}`);
    assert.ok(Math.abs(model.decodeMs - 10) < 0.01, `decode ${model.decodeMs}`);
    assert.ok(Math.abs(model.charsPerToken - 4) < 0.01);
    // A task of 100 prompt tokens and 64 output tokens: 40 + 50 + 640 ms.
    assert.ok(Math.abs(model.slotMs(work(64, 400)) - 730) < 5, `slot ${model.slotMs(work(64, 400))}`);
  });

  test('expected output is the expected_tokens hint, else max_tokens times what tasks really produced of it', () => {
    const model = taught({ overheadMs: 0, prefillMs: 0, decodeMs: 10 }, 0.5);
    assert.ok(Math.abs(model.fill - 0.5) < 0.02, `fill ${model.fill}`);
    assert.ok(Math.abs(model.tokensOut(work(200)) - 100) < 5);
    assert.equal(model.tokensOut(work(200, 40, 30)), 30);
    const engine = { endpoint: '/completion' as const, body: { prompt: 'abcd', n_predict: 64, stream: true } };
    assert.deepEqual(workOf(engine, 500), { promptChars: 4, maxTokens: 64, expectedTokens: 64, streamed: true });
    assert.deepEqual(workOf(engine), { promptChars: 4, maxTokens: 64, expectedTokens: null, streamed: true });
    const chat = { endpoint: '/v1/chat/completions' as const, body: { messages: [{ role: 'user', content: 'hi' }] } };
    assert.equal(workOf(chat).maxTokens, null);
    assert.equal(workOf(chat).streamed, false);
  });

  test('a sum of work prices like its tasks one by one', () => {
    const model = taught({ overheadMs: 40, prefillMs: 0.5, decodeMs: 10 }, 0.7);
    const tasks = [work(16), work(128, 900), work(null), work(64, 10, 20)];
    const sum = new WorkSum();
    for (const t of tasks) sum.add(t);
    const oneByOne = tasks.reduce((total, t) => total + model.slotMs(t), 0);
    assert.ok(Math.abs(model.sumMs(sum) - oneByOne) < 1e-6);
    sum.add(tasks[0]!, -1);
    assert.ok(Math.abs(model.sumMs(sum) - (oneByOne - model.slotMs(tasks[0]!))) < 1e-6);
  });
});

describe('predicted start', () => {
  test('tasks ahead take the slot that frees first, each for its own time', () => {
    const model = taught({ overheadMs: 0, prefillMs: 0, decodeMs: 10 }, 1);
    model.charsPerToken = 1e9; // no prefill at all
    const forecast = new StartForecast([
      { freeInMs: 0, model },
      { freeInMs: 500, model },
    ]);
    // 10 ms per token: 100 tokens hold a slot 1000 ms, 20 tokens 200 ms (the fitted overhead is ~0).
    const starts = [work(100), work(20), work(20), work(20)].map((w) => Math.round(forecast.take(w)));
    assert.deepEqual(
      starts.map((s) => Math.round(s / 10) * 10),
      [0, 500, 700, 900],
    );
    assert.equal(Math.round(forecast.next() / 10) * 10, 1000);
  });

  test('extrapolating by the mean gives the exact answer for tasks of one size', () => {
    const model = taught({ overheadMs: 20, prefillMs: 0, decodeMs: 10 }, 1);
    for (const ahead of [0, 1, 2, 3, 7, 40, 1000]) {
      const slots = [
        { freeInMs: 30, model },
        { freeInMs: 250, model },
        { freeInMs: 900, model },
      ];
      const exact = new StartForecast(slots);
      for (let i = 0; i < ahead; i += 1) exact.take(work(50));
      const sum = new WorkSum();
      for (let i = 0; i < ahead; i += 1) sum.add(work(50));
      const extrapolated = new StartForecast(slots).after(sum);
      assert.ok(Math.abs(extrapolated - exact.next()) < 0.01, `${ahead} ahead: ${extrapolated} vs ${exact.next()}`);
    }
  });

  test('a newcomer waits for the running tasks to end and for every task ahead of it; interactive skips batch', () => {
    const { admit, run } = world(2);
    // Two tasks of 100 tokens run (about 1 s each at 10 ms per token), one of them half done.
    const a = new Task(spec('a'));
    const b = new Task(spec('b'));
    admit(a);
    admit(b);
    run(a);
    run(b);
    for (let i = 0; i < 50; i += 1) b.emit({ event: 'token', data: { t: 'x', i } });
    // Queued: two batch tasks, then an interactive one arrives: it goes first, when b's slot frees (~0.5 s).
    const batch1 = admit(new Task(spec('b1', { priority: 'batch' })));
    const batch2 = admit(new Task(spec('b2', { priority: 'batch' })));
    const interactive = admit(new Task(spec('i1')));
    assert.ok(Math.abs(batch1 - 500) < 60, `first batch task: ${batch1}`);
    assert.ok(Math.abs(batch2 - 1000) < 60, `second batch task: ${batch2}`);
    assert.ok(Math.abs(interactive - 500) < 60, `interactive: ${interactive}`);
  });

  test(`a queue deeper than ${EXACT_AHEAD} is priced from its summed work, close to the walk of every task`, () => {
    const { admit, eta, queue } = world(2);
    let last = 0;
    for (let i = 0; i < 200; i += 1) {
      const maxTokens = 16 + ((i * 53) % 113);
      last = admit(
        new Task(spec(`t${i}`, { engine: { endpoint: '/completion', body: { n_predict: maxTokens, stream: true } } })),
      );
    }
    const walked = eta.standings(true).get('t199');
    assert.ok(walked !== undefined);
    assert.equal(walked.position, 199);
    const exact = walked.startAt - Date.now();
    assert.ok(Math.abs(last - exact) / exact < 0.05, `summed ${last} vs walked ${exact}`);
    assert.equal(queue.size, 200);
  });

  test('a finished task teaches its pool; a canceled one does not', () => {
    const { admit, run, eta, model } = world(1, 10);
    const before = model.samples;
    const task = new Task(spec('done'));
    admit(task);
    run(task);
    task.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0, pool_id: 'p' } });
    task.emit({ event: 'token', data: { t: 'x', i: 0 } });
    task.emit({ event: 'end', data: { tokens_out: 1, decode_ms: 0, tokens_in: 10 } });
    eta.ended(task);
    assert.equal(model.samples, before + 1);
    const canceled = new Task(spec('canceled'));
    admit(canceled);
    run(canceled);
    canceled.emit({ event: 'end', data: { tokens_out: 0, decode_ms: 0, finish_reason: 'canceled' } });
    eta.ended(canceled);
    assert.equal(model.samples, before + 1);
  });
});

describe('queued events on a task', () => {
  test('are not recorded: only the latest is replayed, and only while the task waits', () => {
    const task = new Task(spec('q'));
    assert.ok(task.announceQueued({ position: 3, predicted_start_ms: 900, queue_depth: 5 }));
    assert.ok(task.emit({ event: 'queued', data: { position: 2, predicted_start_ms: 600, queue_depth: 4 } }));
    assert.deepEqual(task.events, []);
    const late: unknown[] = [];
    task.subscribe((e) => late.push(e));
    assert.deepEqual(late, [{ event: 'queued', data: { position: 2, predicted_start_ms: 600, queue_depth: 4 } }]);
    task.emit({ event: 'started', data: { queue_position: 0, predicted_start_ms: 0 } });
    assert.equal(task.announceQueued({ position: 0, predicted_start_ms: 0, queue_depth: 0 }), false);
    const after: string[] = [];
    task.subscribe((e) => after.push(e.event));
    assert.deepEqual(after, ['started']);
  });

  test('come about QUEUED_EVENT_MS apart: a tick passes over a task told where it stands less than 0.8 of that ago', () => {
    const { queue, eta } = world(1);
    const told = (task: Task): number[] => {
      const at: number[] = [];
      task.subscribe((e) => {
        if (e.event === 'queued') at.push(e.data.position);
      });
      return at;
    };
    const first = new Task(spec('first'));
    const heard = told(first);
    const outcome = queue.enqueue({ id: first.id, priority: 'interactive', item: first });
    assert.equal(outcome.kind, 'queued');
    eta.enqueued(first);
    eta.announceTo(first); // its follower came
    eta.announce(); // the ticker's next round, right after
    assert.equal(heard.length, 1, 'the follower was told at once; the tick right after does not tell it again');
    first.queuedAnnouncedAt = Date.now() - 0.8 * QUEUED_EVENT_MS;
    eta.announce();
    assert.equal(heard.length, 2, 'once 0.8 of the period has passed, the tick tells it');
    eta.stop();
  });

  test('go only to tasks someone follows: a forgotten task gets none, and a late follower hears at once', () => {
    const { queue, eta } = world(1);
    const [watched, forgotten] = [new Task(spec('watched')), new Task(spec('forgotten'))];
    const heard: number[] = [];
    watched.subscribe((e) => {
      if (e.event === 'queued') heard.push(e.data.position);
    });
    for (const task of [watched, forgotten]) {
      assert.equal(queue.enqueue({ id: task.id, priority: 'interactive', item: task }).kind, 'queued');
      eta.enqueued(task);
    }
    eta.announce();
    assert.deepEqual(heard, [0], 'the followed task heard where it stands');
    const replayed: string[] = [];
    const leave = forgotten.subscribe((e) => replayed.push(e.event));
    assert.deepEqual(replayed, [], 'nothing was worked out for the task nobody followed');
    eta.announceTo(forgotten);
    assert.deepEqual(replayed, ['queued'], 'its follower hears at once');
    leave();
    eta.stop();
  });
});
