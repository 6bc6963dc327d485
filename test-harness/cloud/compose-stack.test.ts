/**
 * The CLOUD profile's compose stack for real (CLOUD-7001..7004): `npm run cloud:up` builds the images from the
 * debootstrap bases, issues certificates and keys and brings docker-compose.cloud.yml with the CPU override up with
 * podman-compose: orchestratord and two workers (pool-managerd running the demo model on CPU) on a private network,
 * mutual TLS between them. The test talks to it as a client would, kills one worker container, and ends with
 * `npm run cloud:down`, checking that nothing of the project is left.
 *
 * Needs root (apt, podman), as on the CI machine. `npm run test:cloud`; `.ci/run` runs it after `npm test`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { freePort } from '../src/free-port.ts';
import { jsonRequest } from '../src/http-json.ts';
import { followEvents, summarize, type Followed, type SseEvent } from '../src/sse.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROJECT = 'llama-orch-cloud';
/** A fresh machine makes the Debian bases and builds both images; llama.cpp itself comes from the host's cache. */
const UP_BUDGET_MS = 40 * 60_000;
const DOWN_BUDGET_MS = 5 * 60_000;
const STREAM_MS = 60_000;

interface Ran {
  readonly code: number | null;
  readonly output: string;
}

/** Run a command in its own process group; on timeout the whole group is killed and the test fails with its output. */
function run(command: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: still running after ${timeoutMs} ms:\n${output.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function podman(...args: string[]): Promise<string> {
  const ran = await run('podman', args, 60_000);
  assert.equal(ran.code, 0, `podman ${args.join(' ')}: ${ran.output}`);
  return ran.output.trim();
}

/** What of the project exists: containers, volumes, networks (each by compose's label or name prefix). */
async function leftovers(): Promise<string[]> {
  const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');
  return [
    ...lines(
      await podman('ps', '-a', '--format', '{{.Names}}', '--filter', `label=io.podman.compose.project=${PROJECT}`),
    ),
    ...lines(await podman('volume', 'ls', '-q', '--filter', `name=^${PROJECT}_`)),
    ...lines(await podman('network', 'ls', '--format', '{{.Name}}', '--filter', `name=^${PROJECT}_`)),
  ];
}

const terminal = (events: readonly SseEvent[]): SseEvent[] =>
  events.filter((event) => event.event === 'end' || event.event === 'error');

describe('the CLOUD compose stack (npm run cloud:up, podman-compose, CPU override)', { concurrency: false }, () => {
  let base = '';
  let key = '';
  let upOutput = '';

  before(async () => {
    const port = await freePort();
    const up = await run('npm', ['run', '--silent', 'cloud:up'], UP_BUDGET_MS, { LLORCH_CLOUD_PORT: String(port) });
    upOutput = up.output;
    assert.equal(up.code, 0, `cloud:up failed:\n${up.output.slice(-6000)}`);
    base = `http://127.0.0.1:${port}`;
    key = (await readFile(`${ROOT}/.llorch-cloud/api-key`, 'utf8')).trim();
  });

  after(async () => {
    await run('npm', ['run', '--silent', 'cloud:down'], DOWN_BUDGET_MS); // again, should a test have failed first
  });

  test('cloud:up prints the endpoint; both images run as a non-root user and check /ready', async () => {
    assert.match(upOutput, new RegExp(`http://127\\.0\\.0\\.1:${new URL(base).port}`));
    assert.ok(key.length >= 16, 'the client key is in .llorch-cloud/api-key');
    for (const image of ['orchestratord', 'worker']) {
      const ref = `llama-orch/${image}:0.1.0`;
      assert.equal(
        await podman('image', 'inspect', ref, '--format', '{{.Config.User}}'),
        '10001:10001',
        `${image} user`,
      );
      const check = JSON.parse(await podman('image', 'inspect', ref, '--format', '{{json .Config.Healthcheck}}')) as {
        Test: string[];
      };
      assert.deepEqual(check.Test.slice(-2), [
        '/opt/llama-orch/deploy/healthcheck.ts',
        image === 'worker' ? 'pool-managerd' : 'orchestratord',
      ]);
    }
    for (const service of ['orchestratord', 'pool-managerd-1', 'pool-managerd-2'])
      assert.equal(await podman('exec', `${PROJECT}_${service}_1`, 'id', '-u'), '10001', `${service} is not root`);
    // The healthcheck itself answers healthy inside both kinds of container (podman runs no timers without systemd).
    for (const service of ['orchestratord', 'pool-managerd-1'])
      await podman(
        'exec',
        `${PROJECT}_${service}_1`,
        'node',
        '/opt/llama-orch/deploy/healthcheck.ts',
        service.replace(/-\d$/, ''),
      );
  });

  test('the openai client streams a chat with the API key', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, timeout: STREAM_MS, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'demo',
      messages: [{ role: 'user', content: 'Say hello' }],
      max_tokens: 16,
      stream: true,
    });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(text.length > 0, 'tokens arrived');
    assert.ok(finish === 'length' || finish === 'stop', `finished (${finish})`);
  });

  test('a request without a key is answered 401 with the error envelope', async () => {
    const openai = await jsonRequest<{ error: { code: string } }>(`${base}/v1/models`, { timeoutMs: 10_000 });
    assert.equal(openai.status, 401);
    assert.equal(openai.body.error.code, 'unauthorized', 'the OpenAI error shape on /v1');
    const native = await jsonRequest<{ code: string }>(`${base}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'no-key', model_ref: 'demo', prompt: 'hi', max_tokens: 4 },
      timeoutMs: 10_000,
    });
    assert.equal(native.status, 401);
    assert.equal(native.body.code, 'UNAUTHORIZED', 'the error envelope on /v2');
    const wrong = await jsonRequest(`${base}/v1/models`, { headers: { authorization: 'Bearer not-the-key-at-all' } });
    assert.equal(wrong.status, 401);
  });

  test('the operator page is served by the orchestratord image: its script bundled in the container, its data behind the key', async () => {
    const page = await fetch(`${base}/ui`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/ui\/assets\/main\.js">/);
    const script = await fetch(`${base}/ui/assets/main.js`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(script.status, 200, 'esbuild bundled the page inside the image');
    assert.ok((await script.text()).length > 10_000);
    const overview = await jsonRequest(`${base}/v2/overview`, { timeoutMs: 10_000 });
    assert.equal(overview.status, 401);
    const allowed = await jsonRequest<{ pools: unknown[] }>(`${base}/v2/overview`, {
      headers: { authorization: `Bearer ${key}` },
      timeoutMs: 10_000,
    });
    assert.equal(allowed.status, 200);
    assert.ok(allowed.body.pools.length > 0);
  });

  test('a killed worker: its task in flight ends with one error event; new tasks run on the other worker', async () => {
    const auth = { authorization: `Bearer ${key}` };
    const submit = async (taskId: string, maxTokens: number): Promise<void> => {
      const answer = await jsonRequest(`${base}/v2/tasks`, {
        method: 'POST',
        headers: auth,
        body: { task_id: taskId, model_ref: 'demo', prompt: 'Once upon a time', max_tokens: maxTokens },
        timeoutMs: 10_000,
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
    };
    const poolOf = (followed: Followed): string => {
      const started = followed.events.find((event) => event.event === 'started');
      assert.ok(started, `a started event: ${summarize(followed.events)}`);
      return String(started.data['pool_id']);
    };

    // A task long enough to be in flight when its worker dies: 7,000 tokens of an 8,192 context. At its first token
    // the worker container that runs it (the pool named in its started event) is killed.
    await submit('cloud-long', 7000);
    let started: SseEvent | undefined;
    let killed: Promise<string> | undefined;
    const long = await followEvents(`${base}/v2/tasks/cloud-long/events`, {
      headers: auth,
      timeoutMs: STREAM_MS,
      onEvent: (event) => {
        if (event.event === 'started') started = event;
        if (event.event === 'token' && killed === undefined && started !== undefined) {
          const pool = String(started.data['pool_id']);
          killed = podman('kill', `${PROJECT}_pool-managerd-${pool.replace('cpu-', '')}_1`).then(() => pool);
        }
      },
    });
    assert.ok(killed, `the task ran and streamed tokens: ${summarize(long.events)}`);
    const victim = await killed;
    const container = `${PROJECT}_pool-managerd-${victim.replace('cpu-', '')}_1`;
    assert.equal(await podman('inspect', container, '--format', '{{.State.Running}}'), 'false', `${victim} is down`);
    const ends = terminal(long.events);
    assert.equal(ends.length, 1, `exactly one terminal event: ${summarize(long.events)}`);
    assert.equal(ends[0]?.event, 'error', summarize(long.events));
    assert.equal(long.events.at(-1), ends[0], 'nothing after the terminal event');
    assert.equal(typeof ends[0]?.data['code'], 'string');

    const survivor = victim === 'cpu-1' ? 'cpu-2' : 'cpu-1';
    for (const n of [1, 2, 3, 4]) {
      await submit(`cloud-after-${n}`, 16);
      const after = await followEvents(`${base}/v2/tasks/cloud-after-${n}/events`, {
        headers: auth,
        timeoutMs: STREAM_MS,
      });
      assert.deepEqual(
        terminal(after.events).map((event) => event.event),
        ['end'],
        `task ${n} after the kill: ${summarize(after.events)}`,
      );
      assert.equal(poolOf(after), survivor, `task ${n} ran on the other worker`);
    }
  });

  test('cloud:down removes every container, network and volume of the project', async () => {
    assert.notDeepEqual(await leftovers(), [], 'the stack exists before');
    const down = await run('npm', ['run', '--silent', 'cloud:down'], DOWN_BUDGET_MS);
    assert.equal(down.code, 0, down.output);
    assert.deepEqual(await leftovers(), []);
    const images = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
    assert.match(images, /llama-orch\/worker:0\.1\.0/, 'images stay for the next cloud:up');
  });
});
