import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Periodic, ServiceHost, StartCancelled, StopStack } from '../src/index.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('the stop stack', () => {
  test('stops in reverse order, goes on past a failing step, and unwinds only once', async () => {
    const order: string[] = [];
    const warnings: string[] = [];
    const stack = new StopStack({ ...quiet, warn: (_f, message) => warnings.push(message) });
    stack.push(() => void order.push('first'));
    stack.push(() => {
      throw new Error('boom');
    });
    stack.push(async () => {
      await Promise.resolve();
      order.push('last');
    });
    await stack.unwind();
    await stack.unwind();
    assert.deepEqual(order, ['last', 'first']);
    assert.deepEqual(warnings, ['error while stopping']);
  });
});

describe('the service host', () => {
  test('a stop during start cancels the start and stops what it had started, in reverse', async () => {
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const states: string[] = [];
    const host = new ServiceHost('svc', { ...quiet, info: (f) => states.push(String(f['state'])) }, async (scope) => {
      events.push('a started');
      scope.defer(() => void events.push('a stopped'));
      await gate;
      if (scope.signal.aborted) return;
      events.push('b started');
      scope.defer(() => void events.push('b stopped'));
    });
    const starting = host.start();
    const stopping = host.stop();
    assert.equal(host.state, 'starting');
    release();
    await assert.rejects(starting, StartCancelled);
    await stopping;
    assert.deepEqual(events, ['a started', 'a stopped']);
    assert.deepEqual(states, ['starting', 'stopping', 'stopped']);
  });

  test('a start that runs to its end is cancelled all the same, and every part it started is stopped', async () => {
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const host = new ServiceHost('svc', quiet, async (scope) => {
      await gate;
      scope.defer(() => void events.push('server closed'));
    });
    const starting = host.start();
    const stopping = host.stop();
    release();
    await assert.rejects(starting, /start cancelled/);
    await stopping;
    assert.deepEqual(events, ['server closed']);
    assert.equal(host.state, 'stopped');
  });

  test('runs, then stops once however often stop is called, and unwinds after a failed start', async () => {
    const events: string[] = [];
    const host = new ServiceHost('svc', quiet, (scope) => {
      scope.defer(() => void events.push('stopped'));
      return Promise.resolve();
    });
    await host.start();
    assert.equal(host.state, 'running');
    await Promise.all([host.stop(), host.stop()]);
    await host.stop();
    assert.deepEqual(events, ['stopped']);

    const failing = new ServiceHost('bad', quiet, (scope) => {
      scope.defer(() => void events.push('half undone'));
      return Promise.reject(new Error('port in use'));
    });
    await assert.rejects(failing.start(), /port in use/);
    await failing.stop();
    assert.deepEqual(events, ['stopped', 'half undone']);
    await assert.rejects(failing.start(), /start\(\) called when stopped/);
  });
});

describe('the periodic loop', () => {
  test('never runs two ticks at once, lets trigger join the running tick, and stop waits for it', async () => {
    let running = 0;
    let most = 0;
    let ticks = 0;
    let release: (() => void) | null = null;
    const loop = new Periodic({
      name: 'test loop',
      intervalMs: 5,
      log: quiet,
      tick: async () => {
        running += 1;
        most = Math.max(most, running);
        ticks += 1;
        await new Promise<void>((resolve) => (release = resolve));
        running -= 1;
      },
    });
    const first = loop.start();
    const joined = loop.trigger();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(ticks, 1, 'ticks due while one runs are not doubled');
    const stopping = loop.stop();
    (release as (() => void) | null)?.();
    await Promise.all([first, joined, stopping]);
    assert.equal(most, 1);
    await loop.trigger();
    assert.equal(ticks, 1, 'nothing runs after stop');
  });

  test('logs a failing tick and keeps going', async () => {
    const warnings: string[] = [];
    let ticks = 0;
    const loop = new Periodic({
      name: 'flaky',
      intervalMs: 5,
      log: { ...quiet, warn: (_f, message) => warnings.push(message) },
      tick: () => {
        ticks += 1;
        if (ticks === 1) throw new Error('boom');
      },
    });
    await loop.start();
    while (ticks < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    await loop.stop();
    assert.deepEqual(warnings, ['flaky: tick failed']);
  });
});
