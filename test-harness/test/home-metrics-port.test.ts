import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { freePort } from '../src/free-port.ts';
import { HomeWorld } from '../src/home-world.ts';
import { jsonRequest } from '../src/http-json.ts';
import { testEngine } from '../src/engine-fixture.ts';

describe('llorch home with PROMETHEUS_METRICS_PORT', { timeout: 45 * 60_000 }, () => {
  test('starts both daemons and serves orchestratord’s metrics on that port alone', async (t) => {
    await testEngine();
    const world = new HomeWorld();
    t.after(() => world.cleanup());
    await world.freshState();
    const metricsPort = await freePort();
    world.env = { ...world.env, PROMETHEUS_METRICS_PORT: String(metricsPort) };
    world.start();
    await world.ready(120_000);
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /orchd_admission_queue_depth/);
    assert.equal((await jsonRequest(`${world.url}/v1/models`)).status, 200, 'the tree serves');
  });
});
