import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { ServiceHost, runUntilSignal, type Service } from '../src/index.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A service whose stop hangs until released (a daemon slow to stop), counting its stops. */
function slowService(): Service & { stops: number; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const service = {
    stops: 0,
    release: () => release(),
    start: () => Promise.resolve(),
    stop: () => {
      service.stops += 1;
      return gate;
    },
  };
  return service;
}

/** Fake timers and clock; `signal` delivers SIGINT or SIGTERM as the kernel would, to the listeners alone. */
function clock(t: TestContext): { tick: (ms: number) => void; signal: (name: NodeJS.Signals) => void } {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  return { tick: (ms) => t.mock.timers.tick(ms), signal: (name) => void process.emit(name, name) };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

describe('runUntilSignal', () => {
  test('stops exactly once: a second signal only shortens the grace period, a third exits at once', async (t) => {
    const { tick, signal } = clock(t);
    const service = slowService();
    const exits: number[] = [];
    const run = runUntilSignal('svc', service, quiet, {
      graceMs: 60_000,
      hurryMs: 3_000,
      exit: (code) => void exits.push(code),
    });
    await settle();
    signal('SIGINT');
    tick(10_000);
    assert.equal(service.stops, 1);
    assert.deepEqual(exits, [], 'still within the grace period');
    signal('SIGINT');
    tick(2_999);
    assert.equal(service.stops, 1, 'a second signal starts no second stop');
    assert.deepEqual(exits, [], 'the shortened grace period has not run out');
    tick(1);
    assert.deepEqual(exits, [1], 'forced once the shortened grace period ran out');

    const again = slowService();
    const forced: number[] = [];
    service.release();
    assert.equal(await run, 0);
    const second = runUntilSignal('svc', again, quiet, { exit: (code) => void forced.push(code) });
    await settle();
    signal('SIGTERM');
    tick(1_000);
    signal('SIGTERM');
    tick(1_000);
    assert.deepEqual(forced, []);
    signal('SIGINT');
    assert.deepEqual(forced, [1], 'the third signal exits at once');
    assert.equal(again.stops, 1);
    again.release();
    assert.equal(await second, 0);
  });

  test('counts the Ctrl-C that npm forwards a moment after the terminal’s as the same one', async (t) => {
    const { tick, signal } = clock(t);
    const service = slowService();
    const exits: number[] = [];
    const run = runUntilSignal('svc', service, quiet, {
      graceMs: 30_000,
      hurryMs: 3_000,
      exit: (code) => void exits.push(code),
    });
    await settle();
    signal('SIGINT');
    tick(5);
    signal('SIGINT');
    tick(29_994);
    assert.deepEqual(exits, [], 'not hurried: the full grace period applies');
    tick(1);
    assert.deepEqual(exits, [1], 'a stop that outlives its grace period is forced');
    service.release();
    assert.equal(await run, 0);
  });

  test('a signal during start-up cancels the start, and later signals still hurry and force the stop', async (t) => {
    const { tick, signal } = clock(t);
    let releaseStart!: () => void;
    const startGate = new Promise<void>((resolve) => (releaseStart = resolve));
    let releaseStop!: () => void;
    const stopGate = new Promise<void>((resolve) => (releaseStop = resolve));
    const events: string[] = [];
    const host = new ServiceHost('svc', quiet, async (scope) => {
      events.push('engine started');
      scope.defer(async () => {
        await stopGate;
        events.push('engine stopped');
      });
      await startGate;
    });
    const exits: number[] = [];
    const run = runUntilSignal('svc', host, quiet, { hurryMs: 2_000, exit: (code) => void exits.push(code) });
    await settle();
    signal('SIGTERM');
    releaseStart();
    await settle();
    assert.equal(host.state, 'stopping', 'the start was cancelled and its engine is being stopped');
    tick(1_000);
    signal('SIGTERM');
    tick(2_000);
    assert.deepEqual(exits, [1], 'the second signal was not ignored: it shortened the grace period');
    releaseStop();
    assert.equal(await run, 0);
    assert.deepEqual(events, ['engine started', 'engine stopped']);
  });
});
