/**
 * Steps of replicas.feature: tasks spread over orchestratord replicas, judged by the engines' own load.
 */
import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import type { ClusterWorld } from '../support/world.ts';
import { MIN_SAMPLES, area, clusterOf, taskBody, submit, follow, endedWith } from '../support/cloud-helpers.ts';
import { replicasSum } from '../support/prometheus-text.ts';
import { EngineSampler, nodesDispatchedOk } from '../support/engine-sampler.ts';

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
  const sampler = area(this).sampler as EngineSampler | undefined;
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
