/**
 * `llorch chat` without a prompt, against a real cluster: on a real terminal (tmux) and with stdin piped. What the
 * server saw is read from orchestratord's /metrics: the prompt tokens of each turn (the history it was sent) and
 * the tasks canceled by the client.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { PoolList } from '@llama-orch/contracts';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { isAlive, startProcess, stopProcess, waitFor } from '../src/processes.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

const LLORCH = fileURLToPath(new URL('../../bin/llorch/bin/llorch.js', import.meta.url));

/** A counter of orchestratord's /metrics (0 when it has no sample yet). */
async function counter(url: string, name: string, labels: string): Promise<number> {
  const text = await (await request(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}
const promptTokens = (url: string) => counter(url, 'tokens_in_total', 'pool_id="demo"');
const canceledByClient = (url: string) => counter(url, 'tasks_canceled_total', 'reason="client"');

/** tmux, installed with apt-get where it is missing and this test may (root); null when it cannot be had. */
function tmuxBinary(): string | null {
  const has = (): boolean => spawnSync('tmux', ['-V']).status === 0;
  if (has()) return 'tmux';
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0) {
    spawnSync('apt-get', ['install', '-y', '-q', 'tmux'], { stdio: 'ignore', timeout: 180_000 });
    if (has()) return 'tmux';
  }
  return null;
}

/** One tmux server of our own (its own socket, no user config): a real terminal for llorch. */
class Terminal {
  readonly #socket: string;
  /** The tmux server's pid: stopped by it, whatever became of the socket. */
  #server: number | null = null;

  constructor(socket: string) {
    this.#socket = socket;
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.#socket, '-f', '/dev/null', ...args], {
      encoding: 'utf8',
      timeout: 10_000,
    });
  }

  start(command: string): void {
    this.tmux('new-session', '-d', '-s', 'llorch', '-x', '160', '-y', '50', `${command}; echo "[llorch exited $?]"`);
    this.tmux('set-option', '-t', 'llorch', 'remain-on-exit', 'on');
    this.#server = Number(this.tmux('display-message', '-p', '-t', 'llorch', '#{pid}').trim());
  }

  /** The whole pane, wrapped lines joined, trailing blank lines dropped. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-', '-E', '-', '-t', 'llorch').trimEnd();
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'llorch', ...keys);
  }

  /** llorch's exit status once it has left (the command line prints it), else null. */
  exitStatus(): number | null {
    const status = /\[llorch exited (\d+)\]/.exec(this.screen())?.[1];
    return status === undefined ? null : Number(status);
  }

  async shows(what: string, test: (screen: string) => boolean, ms = STREAM_BUDGET_MS): Promise<string> {
    let last = '';
    return within(
      `the terminal to show ${what}`,
      ms,
      () =>
        waitFor(
          what,
          () => {
            last = this.screen();
            return test(last) ? last : undefined;
          },
          ms + 1_000,
          50,
        ),
      () => `\n${last}`,
    );
  }

  stop(): void {
    spawnSync('tmux', ['-S', this.#socket, 'kill-server'], { timeout: 10_000 });
    if (this.#server !== null && isAlive(this.#server)) process.kill(this.#server, 'SIGTERM');
    this.#server = null;
  }
}

const PROMPT = '>>> ';
const promptCount = (screen: string): number => screen.split('\n').filter((l) => l.startsWith(PROMPT.trimEnd())).length;

describe('llorch chat: a conversation', { timeout: 30 * 60_000 }, () => {
  test('on a terminal: answers with the history, /clear forgets it, Ctrl-C cancels an answer on the server, Ctrl-C twice or Ctrl-D leaves', async (t) => {
    const tmux = tmuxBinary();
    if (tmux === null) {
      t.skip(
        'tmux is not installed and could not be (apt-get install tmux): the terminal conversation is untested here',
      );
      return;
    }
    // A context the long answer cannot fill before its Ctrl-C, however fast the demo engine runs.
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 131_072 }]]);
    t.after(cluster.cleanup);
    const dir = await mkdtemp(join(tmpdir(), 'llorch-tty-'));
    const terminals: Terminal[] = [];
    // The tmux servers go first (by socket, else by pid), then the directory that holds their sockets.
    t.after(async () => {
      for (const terminal of terminals) terminal.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const run = (args: string): string =>
      `env LLORCH_URL=${cluster.url} '${process.execPath}' '${LLORCH}' chat ${args}`;

    // Short answers: three turns, the history checked by the prompt tokens the engine counted for each.
    const short = new Terminal(join(dir, 'short.sock'));
    terminals.push(short);
    short.start(run(`--system 'Be brief.' --max-tokens 24`));
    await short.shows('the banner and the prompt', (s) => /llorch chat: demo\./.test(s) && promptCount(s) === 1);
    const turns: number[] = [];
    for (const [i, line] of ['hello', 'and again', '/clear', 'hello'].entries()) {
      const before = await promptTokens(cluster.url);
      const prompts = promptCount(short.screen());
      short.keys(line, 'Enter');
      await short.shows(`the prompt after "${line}"`, (s) => promptCount(s) === prompts + 1);
      if (line === '/clear') {
        assert.match(short.screen(), /\(the conversation is forgotten\)\n>>>\s*$/);
        continue;
      }
      turns.push(
        (await waitFor(`the prompt tokens of turn ${i + 1}`, async () => {
          const now = await promptTokens(cluster.url);
          return now > before ? now : undefined;
        })) - before,
      );
    }
    const [first, second, afterClear] = turns;
    assert.ok(
      second !== undefined && first !== undefined && second > first + 10,
      `turn 2 is sent with turn 1: ${turns.join(', ')}`,
    );
    assert.equal(afterClear, first, 'after /clear the same question costs what it did first');
    // Ctrl-C at the prompt arms leaving (and clears what was typed); the second one leaves.
    short.keys('typed but not sent');
    short.keys('C-c');
    await short.shows('the hint to leave', (s) => s.includes('(Ctrl-C again, Ctrl-D or /bye to leave)'));
    short.keys('C-c');
    assert.equal(await waitFor('llorch to leave', () => short.exitStatus() ?? undefined, 10_000), 0);

    // A long answer: Ctrl-C cancels it on the server, and nothing more is printed.
    const long = new Terminal(join(dir, 'long.sock'));
    terminals.push(long);
    long.start(run('--max-tokens 120000'));
    await long.shows('the prompt', (s) => promptCount(s) === 1);
    const canceledBefore = await canceledByClient(cluster.url);
    long.keys('Go on:', 'Enter');
    await long.shows(
      'tokens of the answer',
      (s) => (s.split(`${PROMPT}Go on:`)[1] ?? '').replace(/\s/g, '').length > 20,
    );
    long.keys('C-c');
    const canceled = await long.shows('the cancellation', (s) =>
      /\(canceled: this turn is not kept\)\n>>>\s*$/.test(s),
    );
    await waitFor('orchestratord to count the client’s cancel', async () =>
      (await canceledByClient(cluster.url)) === canceledBefore + 1 ? true : undefined,
    );
    await waitFor('the slot to be free again', async () => {
      const pools = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
      return pools.every((p) => p.slots_free === p.slots_total) ? true : undefined;
    });
    assert.equal(long.screen(), canceled, 'no token after the cancellation');
    long.keys('C-d');
    assert.equal(await waitFor('llorch to leave on Ctrl-D', () => long.exitStatus() ?? undefined, 10_000), 0);
  });

  test('with stdin piped: one turn per line, answers only, the history sent with every turn', async (t) => {
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]]);
    t.after(cluster.cleanup);
    const before = await promptTokens(cluster.url);
    const proc = startProcess(
      'bash',
      ['-c', `printf 'hello\\nhello\\n' | '${process.execPath}' '${LLORCH}' chat --max-tokens 8`],
      {
        ...process.env,
        LLORCH_URL: cluster.url,
      },
    );
    t.after(() => stopProcess(proc));
    const code = await within('llorch chat with piped stdin', STREAM_BUDGET_MS, () => proc.exited, proc.output);
    assert.equal(code, 0, proc.output());
    assert.doesNotMatch(proc.output(), />>>|llorch chat:/, 'no prompt, no banner');
    // The same line twice: the second turn also carries the first and its answer.
    const sent = (await promptTokens(cluster.url)) - before;
    const single = await (async () => {
      const at = await promptTokens(cluster.url);
      const one = startProcess(process.execPath, [LLORCH, 'chat', 'hello', '--max-tokens', '8'], {
        ...process.env,
        LLORCH_URL: cluster.url,
      });
      assert.equal(await within('llorch chat hello', STREAM_BUDGET_MS, () => one.exited, one.output), 0);
      return (await promptTokens(cluster.url)) - at;
    })();
    assert.ok(sent > 2 * single, `two turns with history cost ${sent} prompt tokens, one turn ${single}`);
  });
});
