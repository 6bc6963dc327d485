import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));
/** Every run of llorch here follows a stream: it gets this long. */
const RUN_BUDGET_MS = 20_000;

interface Recorded {
  readonly chats: { model: string; messages: { role: string; content: string }[]; max_tokens: number }[];
  readonly cancels: string[];
}

/**
 * orchestratord's /v1 surface as llorch uses it, on a real port: /v1/models, a streamed /v1/chat/completions whose
 * answer is `answer <n>` (or an endless stream of `x`, or an error, by the question), and /v2/tasks/{id}/cancel.
 */
async function fakeOrchestratord(t: { after: (fn: () => Promise<void>) => void }): Promise<{ url: string } & Recorded> {
  const recorded: Recorded = { chats: [], cancels: [] };
  const streams = new Set<ServerResponse>();
  const body = async (req: IncomingMessage): Promise<string> => {
    let text = '';
    for await (const chunk of req) text += (chunk as Buffer).toString();
    return text;
  };
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            object: 'list',
            data: [{ id: 'demo', object: 'model', created: 0, owned_by: 'llama-orch' }],
          }),
        );
        return;
      }
      const cancel = /^\/v2\/tasks\/([^/]+)\/cancel$/.exec(req.url ?? '');
      if (cancel?.[1] !== undefined) {
        recorded.cancels.push(decodeURIComponent(cancel[1]));
        res.writeHead(204).end();
        return;
      }
      const chat = JSON.parse(await body(req)) as Recorded['chats'][number];
      recorded.chats.push(chat);
      const id = `chatcmpl-${recorded.chats.length}`;
      const question = chat.messages.at(-1)?.content ?? '';
      if (question === 'fail') {
        res.writeHead(503, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            error: { message: 'no pool serves demo', type: 'server_error', param: null, code: 'pool_unavailable' },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      streams.add(res);
      res.once('close', () => streams.delete(res));
      const send = (content: string | null, finish: string | null = null): void =>
        void res.write(
          `data: ${JSON.stringify({
            id,
            object: 'chat.completion.chunk',
            created: 0,
            model: chat.model,
            choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
          })}\n\n`,
        );
      send('');
      if (question === 'split') {
        // One event whose bytes arrive in two pieces, cut inside a two-byte character.
        const frame = Buffer.from(
          `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: chat.model, choices: [{ index: 0, delta: { content: 'Привет' }, finish_reason: null }] })}\n\n`,
        );
        const cut = frame.indexOf(Buffer.from('Привет')) + 3;
        res.write(frame.subarray(0, cut));
        setTimeout(() => {
          res.write(frame.subarray(cut));
          send(null, 'stop');
          res.end('data: [DONE]\n\n');
        }, 50);
        return;
      }
      if (question === 'endless') {
        const timer = setInterval(() => send('x'.repeat(20)), 5);
        res.once('close', () => clearInterval(timer));
        return;
      }
      send('answer ');
      send(String(recorded.chats.length));
      send(null, 'stop');
      res.end('data: [DONE]\n\n');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const res of streams) res.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, ...recorded };
}

/** Run llorch with stdin from `input` (a pipe: not a terminal), within the run budget. */
async function llorch(
  url: string,
  args: string[],
  input: string,
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, LLORCH_URL: url },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    onStdout?.(stdout, child);
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_BUDGET_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  assert.notEqual(
    child.signalCode,
    'SIGKILL',
    `llorch ${args.join(' ')} ran past ${RUN_BUDGET_MS} ms: ${stdout}${stderr}`,
  );
  return { code, stdout, stderr };
}

describe('llorch chat', () => {
  test('with stdin piped, answers every line as one turn of a conversation that keeps its history and system message', async (t) => {
    const server = await fakeOrchestratord(t);
    const run = await llorch(server.url, ['chat', '--system', 'Be brief.', '--max-tokens', '7'], 'first\n\nsecond\n');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'answer 1\nanswer 2\n');
    assert.equal(run.stderr, '');
    assert.deepEqual(
      server.chats.map((c) => [c.model, c.max_tokens, c.messages.map((m) => `${m.role}: ${m.content}`)]),
      [
        ['demo', 7, ['system: Be brief.', 'user: first']],
        ['demo', 7, ['system: Be brief.', 'user: first', 'assistant: answer 1', 'user: second']],
      ],
    );
  });

  test('prints a character whose bytes arrive in two pieces whole', async (t) => {
    const server = await fakeOrchestratord(t);
    const run = await llorch(server.url, ['chat', 'split'], '');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'Привет\n');
  });

  test('with stdin piped, stops at a failed turn with its reason and exit code 1', async (t) => {
    const server = await fakeOrchestratord(t);
    const run = await llorch(server.url, ['chat', '--model', 'demo'], 'first\nfail\nnever asked\n');
    assert.equal(run.code, 1);
    assert.equal(run.stdout, 'answer 1\n');
    assert.equal(run.stderr, 'llorch chat: no pool serves demo\n');
    assert.equal(server.chats.length, 2);
  });

  test('a reader that stops reading cancels the task by its id and ends quietly with exit code 0', async (t) => {
    const server = await fakeOrchestratord(t);
    for (const args of [['chat', 'endless'], ['chat']]) {
      // As `| head -c 50` does: read 50 bytes, then close the pipe.
      const run = await llorch(server.url, args, args.length === 1 ? 'endless\n' : '', (out, child) => {
        if (out.length >= 50) child.stdout?.destroy();
      });
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr, '');
    }
    assert.deepEqual(server.cancels, ['chatcmpl-1', 'chatcmpl-2']);
  });
});
