import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));
/** How long a test follows `llorch logs --follow` for one expected line. */
const FOLLOW_BUDGET_MS = 15_000;

/** Lines as the daemons write them (pino JSON), taken from a real HOME tree; times 2026-11-22 17:08:3x UTC. */
const T0 = Date.UTC(2026, 10, 22, 17, 8, 30);
const json = (ms: number, fields: Record<string, unknown>): string =>
  JSON.stringify({ level: 30, time: T0 + ms, pid: 24808, hostname: 'vm', ...fields });
const ORCH_OLD = json(0, { name: 'orchestratord', msg: 'orchestratord running' });
const ORCH = [
  json(5_370, {
    name: 'orchestratord',
    correlation_id: '4361e820',
    task_id: 'task-1',
    priority: 'interactive',
    queue_position: 0,
    msg: 'task admitted',
  }),
  json(12_158, { name: 'orchestratord', correlation_id: 'e684aa63', task_id: 'chatcmpl-2', msg: 'task canceled' }),
];
const PM = [
  json(1_000, { name: 'pool-managerd', pool_id: 'demo', msg: 'pool demo ready' }),
  json(5_414, {
    name: 'pool-managerd',
    pool_id: 'demo',
    replica_id: 'r0',
    correlation_id: 'task-1',
    endpoint: '/completion',
    status: 200,
    outcome: 'ok',
    duration_ms: 40,
    msg: 'dispatch finished',
  }),
  json(6_000, { name: 'pool-managerd', pool_id: 'other', msg: 'pool other ready' }),
  json(12_159, {
    name: 'pool-managerd',
    level: 50,
    pool_id: 'demo',
    replica_id: 'r0',
    correlation_id: 'chatcmpl-2',
    err: { type: 'Error', message: 'engine went away', stack: 'Error: engine went away\n    at relay' },
    msg: 'engine request failed before its answer',
  }),
];
/** llama-server's own lines: time since launch (the launcher's header gives the launch time), level letter. */
const ENGINE = [
  '',
  `# ${new Date(T0 + 2_000).toISOString()} $ /cache/engines/x/llama-server --port 41000 -m /cache/models/demo.gguf`,
  'warning: no usable GPU found, --gpu-layers option will be ignored',
  '0.00.505.731 I srv  llama_server: listening on http://127.0.0.1:41000',
  '0.03.414.000 I slot launch_slot_: id  0 | task 7 | processing task',
  '0.10.160.000 W srv          stop: cancel task, id_task = 7',
];

function stateWithLogs(t: { after: (fn: () => void) => void }): string {
  const state = mkdtempSync(join(tmpdir(), 'llorch-logs-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  mkdirSync(join(state, 'logs'));
  writeFileSync(join(state, 'logs', 'orchestratord.log.1'), `${ORCH_OLD}\n`);
  writeFileSync(join(state, 'logs', 'orchestratord.log'), `${ORCH.join('\n')}\n`);
  writeFileSync(join(state, 'logs', 'pool-managerd.log'), `${PM.join('\n')}\n`);
  writeFileSync(join(state, 'logs', 'engine-demo-r0.log'), `${ENGINE.join('\n')}\n`);
  writeFileSync(join(state, 'logs', 'engine-other-r0.log'), 'other engine line\n');
  return state;
}

/** UTC times, no colour (FORCE_COLOR, which the test runner may set, would win over NO_COLOR). */
const { FORCE_COLOR: _force, ...PARENT_ENV } = process.env;
const ENV = { ...PARENT_ENV, TZ: 'UTC', NO_COLOR: '1' };

function logs(state: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, 'logs', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...ENV, POOL_MANAGERD_RUNTIME_DIR: state },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('llorch logs', () => {
  test('shows both daemons’ logs interleaved by time, rotated files first, one readable line each', (t) => {
    const run = logs(stateWithLogs(t));
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.filter((l) => l.startsWith('[')).map((l) => /^\[[^\]]+\] \w+: (\S+) (.*?)(?: task=| pool=|$)/.exec(l)?.[2]),
      [
        'orchestratord running',
        'pool demo ready',
        'task admitted',
        'dispatch finished',
        'pool other ready',
        'task canceled',
        'engine request failed before its answer',
      ],
    );
    assert.equal(lines[0], '[2026-11-22 17:08:30.000] INFO: orchestratord orchestratord running');
    // The request log: the task, the pool and replica, the endpoint, the status, the outcome and the time.
    assert.ok(
      lines.includes(
        '[2026-11-22 17:08:35.414] INFO: pool-managerd dispatch finished task=task-1 pool=demo/r0 /completion 200 ok 40 ms',
      ),
      run.stdout,
    );
    assert.ok(
      lines.includes(
        '[2026-11-22 17:08:35.370] INFO: orchestratord task admitted task=task-1 {"correlation_id":"4361e820","priority":"interactive","queue_position":0}',
      ),
      run.stdout,
    );
    // An error keeps its message and stack, under its line.
    assert.match(
      run.stdout,
      /ERROR: pool-managerd engine request failed before its answer task=chatcmpl-2 pool=demo\/r0\n\s+err: \{/,
    );
    assert.match(run.stdout, /"message": "engine went away"/);
    assert.doesNotMatch(run.stdout, /"level"|"hostname"|"pid"|other engine line/);
  });

  test('shows the request log alone, one daemon alone, or a pool’s engine lines beside the daemons’ lines about it', (t) => {
    const state = stateWithLogs(t);
    const requests = logs(state, '--requests');
    assert.equal(requests.status, 0, requests.stderr);
    assert.deepEqual(
      requests.stdout
        .trimEnd()
        .split('\n')
        .map((l) => /: (orchestratord|pool-managerd) ([a-z ]+?) task=/.exec(l)?.slice(1, 3).join(' ')),
      ['orchestratord task admitted', 'pool-managerd dispatch finished', 'orchestratord task canceled'],
    );
    const orch = logs(state, 'orchestratord');
    assert.equal(orch.stdout.trimEnd().split('\n').length, 3);
    assert.doesNotMatch(orch.stdout, /pool-managerd/);

    const pool = logs(state, 'demo');
    assert.equal(pool.status, 0, pool.stderr);
    const lines = pool.stdout
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('['));
    assert.deepEqual(
      lines.map((l) => /^\[[^\]]+\]/.exec(l)?.[0]),
      [
        '[2026-11-22 17:08:31.000]',
        '[2026-11-22 17:08:32.000]',
        '[2026-11-22 17:08:32.000]',
        '[2026-11-22 17:08:32.505]',
        '[2026-11-22 17:08:35.414]',
        '[2026-11-22 17:08:35.414]',
        '[2026-11-22 17:08:42.159]',
        '[2026-11-22 17:08:42.160]',
      ],
    );
    // The engine's relative times are placed after its launch header: the engine answered the dispatch 40 ms in.
    assert.match(lines[5] ?? '', /INFO: demo\/r0\s+slot launch_slot_: id {2}0 \| task 7 \| processing task$/);
    assert.match(lines[7] ?? '', /WARN: demo\/r0\s+srv {10}stop: cancel task, id_task = 7$/);
    assert.doesNotMatch(pool.stdout, /pool other ready|other engine line|task admitted/);
    assert.match(logs(state, 'other').stdout, /other engine line/);
  });

  test('shows the last n lines, or all, or the lines as written; says where logs would be when there are none', (t) => {
    const state = stateWithLogs(t);
    const last = logs(state, '--lines', '2');
    assert.deepEqual(
      last.stdout
        .split('\n')
        .filter((l) => l.startsWith('['))
        .map((l) => /: \S+ ([a-z ]+?)(?: task=|$)/.exec(l)?.[1]),
      ['task canceled', 'engine request failed before its answer'],
    );
    assert.equal(logs(state, '-n', 'all', 'orchestratord').stdout.trimEnd().split('\n').length, 3);
    const raw = logs(state, '--json', 'orchestratord');
    assert.equal(raw.stdout, `${ORCH_OLD}\n${ORCH.join('\n')}\n`);
    assert.equal(logs(state, '--lines', '0').status, 2);

    const empty = mkdtempSync(join(tmpdir(), 'llorch-nologs-'));
    t.after(() => rmSync(empty, { recursive: true, force: true }));
    const none = logs(empty);
    assert.equal(none.status, 1);
    assert.match(none.stderr, new RegExp(`no logs in ${join(empty, 'logs')}: \`llorch home\` writes them there`));
    const noPool = logs(state, 'ghost');
    assert.equal(noPool.status, 1);
    assert.match(
      noPool.stderr,
      /no log of pool ghost in .* \(logs there: orchestratord, pool-managerd, demo\/r0, other\/r0\)/,
    );
  });

  test('follows new lines as they are written, across a rotation, and ends quietly when its reader goes away', async (t) => {
    const state = stateWithLogs(t);
    const file = join(state, 'logs', 'orchestratord.log');
    const child = spawn(process.execPath, [CLI, 'logs', '--follow', 'orchestratord'], {
      env: { ...ENV, POOL_MANAGERD_RUNTIME_DIR: state },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const shows = async (what: RegExp): Promise<void> => {
      const deadline = Date.now() + FOLLOW_BUDGET_MS;
      while (!what.test(out)) {
        if (Date.now() > deadline) assert.fail(`no ${String(what)} within ${FOLLOW_BUDGET_MS} ms; saw:\n${out}${err}`);
        if (child.exitCode !== null) assert.fail(`llorch logs --follow exited ${child.exitCode}: ${err}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await shows(/task canceled/);
    assert.match(out, /orchestratord running/, 'the last lines, rotated file included, come first');

    appendFileSync(file, `${json(20_000, { name: 'orchestratord', msg: 'appended' })}\n`);
    await shows(/orchestratord appended/);
    // Rotation as a size-rotating writer does it: the last line goes to the old file, which is renamed to .1
    // (the old .1 to .2); the next line starts a new file.
    appendFileSync(file, `${json(21_000, { name: 'orchestratord', msg: 'last before rotation' })}\n`);
    renameSync(`${file}.1`, `${file}.2`);
    renameSync(file, `${file}.1`);
    writeFileSync(file, `${json(22_000, { name: 'orchestratord', msg: 'first after rotation' })}\n`);
    await shows(/first after rotation/);
    const order = ['appended', 'last before rotation', 'first after rotation'].map((m) =>
      out.indexOf(`orchestratord ${m}`),
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
    );
    assert.equal(out.split('orchestratord first after rotation').length, 2, 'each line once');

    // The reader goes away (`| head`): the next line written ends the command, quietly.
    child.stdout.destroy();
    appendFileSync(file, `${json(23_000, { name: 'orchestratord', msg: 'nobody reads this' })}\n`);
    const deadline = setTimeout(() => child.kill('SIGKILL'), FOLLOW_BUDGET_MS);
    const code = await exited;
    clearTimeout(deadline);
    assert.equal(code, 0, `exit ${code}; stderr: ${err}`);
    assert.equal(err, '');
  });
});
