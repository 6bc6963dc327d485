/**
 * `llorch usage` against a real orchestratord + pool-managerd + llama-server stack with a SQLite journal: the
 * ledger's totals are what the engine reported for real chat completions, shown as JSON, a table and CSV; bad
 * arguments are refused before anything is asked, and an orchestratord without a journal says why it has none.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { UsageReport } from '@llama-orch/contracts';
import { startCluster, type Cluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { waitFor } from '../src/processes.ts';

const LLORCH = fileURLToPath(new URL('../../bin/llorch/bin/llorch.js', import.meta.url));
/** How long one `llorch usage` may take, start-up included. */
const CLI_BUDGET_MS = 30_000;
const BUDGET_TOKENS = 100_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `llorch` to its end within CLI_BUDGET_MS (stopped, and the test failed, past it). */
function llorch(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [LLORCH, ...args],
      { env, timeout: CLI_BUDGET_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error?.killed === true)
          reject(new Error(`llorch ${args.join(' ')}: no exit within ${CLI_BUDGET_MS} ms\n${stdout}${stderr}`));
        else resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
      },
    );
  });
}

/** RFC 4180 records (quoted fields, doubled quotes, CRLF or LF line ends). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  const endField = (): void => {
    record.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charAt(i);
    if (quoted) {
      if (c !== '"') field += c;
      else if (text.charAt(i + 1) === '"') {
        field += '"';
        i += 1;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') endField();
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text.charAt(i + 1) === '\n') i += 1;
      endField();
      records.push(record);
      record = [];
    } else field += c;
  }
  if (field !== '' || record.length > 0) {
    endField();
    records.push(record);
  }
  return records;
}

interface ChatAnswer {
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number };
}

describe('llorch usage', { timeout: 10 * 60_000 }, () => {
  let dir = '';
  let cluster: Cluster | null = null;
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llorch-usage-'));
    const budgets = join(dir, 'budgets.json');
    await writeFile(budgets, JSON.stringify({ default: { tokens_per_day: BUDGET_TOKENS } }));
    cluster = await startCluster([[{ id: 'demo', slots: 2 }]], {
      ORCHD_DATABASE_URL: `sqlite:${join(dir, 'tasks.db')}`,
      ORCHD_BUDGETS_FILE: budgets,
    });
    const { LLORCH_API_KEY: _key, LLORCH_CONFIG: _config, FORCE_COLOR: _color, ...parent } = process.env;
    env = { ...parent, NO_COLOR: '1', LLORCH_URL: cluster.url, POOL_MANAGERD_RUNTIME_DIR: join(dir, 'state') };
  });
  after(async () => {
    await cluster?.cleanup();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  test('reports the tasks and the engine’s token counts of real chat completions as JSON, a table and CSV', async () => {
    assert.ok(cluster);
    const url = cluster.url;
    const prompts = ['Say hi.', 'Count to three.', 'Name a colour.'];
    let tokensIn = 0;
    let tokensOut = 0;
    for (const prompt of prompts) {
      const answer = await jsonRequest<ChatAnswer>(`${url}/v1/chat/completions`, {
        method: 'POST',
        body: { model: 'demo', messages: [{ role: 'user', content: prompt }], max_tokens: 8 },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      tokensIn += answer.body.usage.prompt_tokens;
      tokensOut += answer.body.usage.completion_tokens;
    }
    assert.ok(tokensIn > 0 && tokensOut > 0, `the engine counted tokens: ${tokensIn} in, ${tokensOut} out`);

    // JSON: the server's report as is; the default window is today (UTC).
    const json = await llorch(env, 'usage', '--json');
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as UsageReport;
    assert.match(report.since, /T00:00:00\.000Z$/, 'the default window starts at 00:00 UTC');
    assert.equal(report.totals.length, 1, json.stdout);
    const [row] = report.totals;
    assert.ok(row);
    assert.deepEqual(
      {
        identity: row.identity,
        model: row.model,
        tasks: row.tasks,
        tokens_in: row.tokens_in,
        tokens_out: row.tokens_out,
      },
      { identity: 'anonymous', model: 'demo', tasks: prompts.length, tokens_in: tokensIn, tokens_out: tokensOut },
      'the ledger sums what the engine reported',
    );
    assert.ok(row.engine_ms > 0, `engine time was counted: ${row.engine_ms} ms`);
    assert.equal(row.gpu_seconds, 0, 'no GPU time on a CPU pool');

    // The budget settles to the tokens produced once the tasks' reservations are given back.
    const budget = await waitFor(
      'the budget to hold the tokens produced',
      async () => {
        const run = await llorch(env, 'usage', '--json', '--since', '1h');
        const standing = (JSON.parse(run.stdout) as UsageReport).budgets[0];
        return standing?.tokens === tokensOut ? standing : undefined;
      },
      CLI_BUDGET_MS,
      250,
    );
    assert.deepEqual([budget.identity, budget.tokens_per_day], ['anonymous', BUDGET_TOKENS]);

    const table = await llorch(env, 'usage', '--since', '1h');
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n');
    assert.match(lines[0] ?? '', /^Usage from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to .* UTC:$/);
    assert.match(lines[1] ?? '', /^IDENTITY +MODEL +TASKS +TOKENS IN +TOKENS OUT +ENGINE TIME +GPU-SECONDS$/);
    assert.match(
      lines[2] ?? '',
      new RegExp(`^anonymous +demo +${prompts.length} +${tokensIn} +${tokensOut} +\\d[\\d.]* (ms|s) +0\\.0$`),
      table.stdout,
    );
    assert.doesNotMatch(table.stdout, /^TOTAL/m, 'no total line under a single row');
    assert.match(table.stdout, /^IDENTITY +TOKENS TODAY \/ LIMIT +GPU-SECONDS \/ LIMIT +RESETS$/m);
    assert.match(
      table.stdout,
      new RegExp(
        `^anonymous +${tokensOut} / ${BUDGET_TOKENS} +0\\.0 / no limit +\\d{4}-\\d\\d-\\d\\d 00:00:00 UTC \\(in `,
        'm',
      ),
    );

    const csv = await llorch(env, 'usage', '--csv', '--since', '1h');
    assert.equal(csv.code, 0, csv.stderr);
    const [header, ...records] = parseCsv(csv.stdout);
    assert.deepEqual(header, ['identity', 'model', 'tasks', 'tokens_in', 'tokens_out', 'engine_ms', 'gpu_seconds']);
    assert.deepEqual(records, [
      ['anonymous', 'demo', String(prompts.length), String(tokensIn), String(tokensOut), String(row.engine_ms), '0'],
    ]);

    // A window before the tasks: said plainly.
    const empty = await llorch(env, 'usage', '--since', '3h', '--until', '2h');
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /no usage in this window/);
  });

  test('refuses a time it cannot read, and --json with --csv, with exit code 2 naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['--since', 'yesterday'], /llorch usage: --since "yesterday" is not a time/],
      [['--until', '5 apples'], /llorch usage: --until "5 apples" is not a time/],
      [['--since', '1h', '--until', '2h'], /llorch usage: --until must be after --since/],
      [['--json', '--csv'], /llorch usage: --json or --csv, not both/],
    ];
    for (const [args, message] of cases) {
      const run = await llorch(env, 'usage', ...args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
    }
  });

  test('says that an orchestratord without ORCHD_DATABASE_URL keeps no ledger, with a non-zero exit', async (t) => {
    assert.ok(cluster);
    // A second orchestratord on the same pool-managerd: no second set of engines.
    const plain = await startOrchestratord({
      ORCHD_POOL_MANAGERS: cluster.nodes.map((n) => n.url).join(','),
      ORCHD_DATABASE_URL: undefined,
      ORCHD_BUDGETS_FILE: undefined,
    });
    t.after(plain.stop);
    const run = await llorch({ ...env, LLORCH_URL: plain.url }, 'usage');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^llorch usage: HTTP 503 .*JOURNAL_UNAVAILABLE.*ORCHD_DATABASE_URL/);
    assert.equal(run.stdout, '');
  });
});
