import assert from 'node:assert/strict';
import { After, Given, Then, When, setDefaultTimeout, setWorldConstructor } from '@cucumber/cucumber';
import OpenAI from 'openai';
import { HomeWorld } from '../../src/home-world.ts';
import { STREAM_BUDGET_MS, within } from '../../src/sse.ts';

setWorldConstructor(HomeWorld);
setDefaultTimeout(45 * 60_000);

let streamed = 0;

Given('a fresh llama-orch state directory', async function (this: HomeWorld) {
  await this.freshState();
});

When('I run {string}', async function (this: HomeWorld, command: string) {
  if (command === 'npm start') this.start();
  else await this.llorch(...command.replace(/^llorch /, '').split(' '));
});

Then('it prints a ready line within {int} seconds', async function (this: HomeWorld, seconds: number) {
  await this.ready(seconds * 1000);
});

Then('the endpoint lists the model {string}', async function (this: HomeWorld, model: string) {
  const client = new OpenAI({ baseURL: `${this.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: STREAM_BUDGET_MS });
  const models = await client.models.list();
  assert.ok(models.data.some((m) => m.id === model));
});

When('I chat {string} with at most {int} tokens', async function (this: HomeWorld, prompt: string, maxTokens: number) {
  const client = new OpenAI({ baseURL: `${this.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: STREAM_BUDGET_MS });
  streamed = 0;
  await within(
    'the streamed chat',
    STREAM_BUDGET_MS,
    async (signal) => {
      for await (const chunk of await client.chat.completions.create(
        { model: 'demo', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, stream: true },
        { signal },
      )) {
        if (chunk.choices[0]?.delta.content) streamed += 1;
      }
    },
    () => `${streamed} content chunks`,
  );
});

Then('I receive {int} streamed tokens', function (this: HomeWorld, count: number) {
  assert.equal(streamed, count);
});

Then(
  'the pool {string} is {string} with {int} slots',
  function (this: HomeWorld, poolId: string, state: string, slots: number) {
    const pool = this.pools().find((p) => p.pool_id === poolId);
    assert.ok(pool, `no pool ${poolId} in ${this.lastOutput}`);
    assert.equal(pool.state, state);
    assert.equal(pool.slots_total, slots);
  },
);

When('I stop llama-orch', function (this: HomeWorld) {
  this.stopping = this.stop();
});

Then('it exits cleanly within {int} seconds', async function (this: HomeWorld, seconds: number) {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), seconds * 1000).unref());
  assert.equal(await Promise.race([this.stopping, timeout]), 0);
});

Then('no engine and no handoff file is left behind', async function (this: HomeWorld) {
  assert.deepEqual(await this.leftovers(), { engines: [], handoffs: [] });
});

After(async function (this: HomeWorld) {
  await this.cleanup();
});
