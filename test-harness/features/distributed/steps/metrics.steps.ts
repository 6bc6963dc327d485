/**
 * Steps of metrics.feature: the series a scraper reads from orchestratord's /metrics.
 */
import assert from 'node:assert/strict';
import { Then, When, type DataTable } from '@cucumber/cucumber';
import { waitFor } from '../../../src/processes.ts';
import type { ClusterWorld } from '../support/world.ts';
import { COUNTER_SETTLE_MS, area, clusterOf, onePoll } from '../support/cloud-helpers.ts';
import { valueOf, scrape, summedOverReplicas } from '../support/prometheus-text.ts';

Then("orchestratord's \\/metrics, asked without a key, shows", async function (this: ClusterWorld, table: DataTable) {
  const text = await scrape(clusterOf(this).url);
  const wrong: string[] = [];
  for (const { series = '', value = '' } of table.hashes()) {
    const seen = valueOf(text, series);
    const atLeast = /^>=\s*(\d+)$/.exec(value);
    const ok = seen !== undefined && (atLeast ? seen >= Number(atLeast[1]) : seen === Number(value));
    if (!ok) wrong.push(`${series}: expected ${value}, saw ${seen ?? 'no such series'}`);
  }
  assert.deepEqual(wrong, [], 'every series is there with its value');
});

async function metricNow(world: ClusterWorld, series: string): Promise<number> {
  return (await summedOverReplicas(clusterOf(world), series)) ?? 0;
}

When("I note orchestratord's metric {string}", async function (this: ClusterWorld, series: string) {
  area(this).noted.set(series, await metricNow(this, series));
});

async function metricReaches(world: ClusterWorld, series: string, expected: number, budgetMs: number): Promise<void> {
  let seen = NaN;
  const since = Date.now();
  try {
    await waitFor(
      `${series} = ${expected}`,
      async () => {
        seen = valueOf(await scrape(clusterOf(world).url), series) ?? NaN;
        return seen === expected ? true : undefined;
      },
      budgetMs,
      50,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen ${seen}`, { cause: error });
  }
  world.attach(`${series} = ${expected} after ${Date.now() - since} ms (budget ${budgetMs} ms)`);
}

Then(
  "orchestratord's metric {string} reaches {int} within {int} seconds",
  async function (this: ClusterWorld, series: string, expected: number, seconds: number) {
    await metricReaches(this, series, expected, seconds * 1000);
  },
);

Then(
  "orchestratord's metric {string} reaches {int} within one poll interval plus the request timeout",
  async function (this: ClusterWorld, series: string, expected: number) {
    await metricReaches(this, series, expected, onePoll(clusterOf(this)));
  },
);

Then("orchestratord's metric {string} is {int}", async function (this: ClusterWorld, series: string, expected: number) {
  assert.equal(valueOf(await scrape(clusterOf(this).url), series), expected, series);
});

function notedOf(world: ClusterWorld, series: string): number {
  const noted = area(world).noted.get(series);
  assert.ok(noted !== undefined, `${series} was not noted first`);
  return noted;
}

Then("orchestratord's metric {string} rose by {int}", async function (this: ClusterWorld, series: string, by: number) {
  const before = notedOf(this, series);
  let now = before;
  await waitFor(
    `${series} to rise by ${by}`,
    async () => {
      now = await metricNow(this, series);
      return now - before >= by ? true : undefined;
    },
    COUNTER_SETTLE_MS,
    50,
  ).catch(() => undefined); // the exact comparison below says what was seen
  assert.equal(now - before, by, `${series} went from ${before} to ${now}`);
});

Then(
  "orchestratord's metric {string} rose by at least {int}",
  async function (this: ClusterWorld, series: string, by: number) {
    const before = notedOf(this, series);
    const now = await metricNow(this, series);
    assert.ok(now - before >= by, `${series} went from ${before} to ${now}`);
  },
);

When("node {string}'s link is cut", async function (this: ClusterWorld, nodeId: string) {
  await clusterOf(this).node(nodeId).partition('link');
});

When("node {string}'s link is restored", async function (this: ClusterWorld, nodeId: string) {
  await clusterOf(this).node(nodeId).heal();
});
