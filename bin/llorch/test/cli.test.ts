import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import type { PoolStatus } from '@llama-orch/contracts';
import { failureCodes } from '../src/home/failure-codes.ts';
import { poolIdFor } from '../src/home/home-config.ts';
import { hintFor } from '../src/home/messages.ts';
import { statusTable } from '../src/commands/status.ts';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));

function llorch(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('llorch', () => {
  test('prints usage for --help and rejects an unknown command or flag with exit code 2', () => {
    assert.equal(llorch(['--help']).status, 0);
    assert.match(llorch(['--help']).stdout, /^llorch — operator CLI/);
    const unknown = llorch(['serve']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "serve"/);
    assert.equal(llorch(['status', '--loud']).status, 2);
    assert.equal(llorch(['chat', '']).status, 2);
    assert.equal(llorch(['chat', 'hi', '--max-tokens', '0']).status, 2);
    assert.equal(llorch(['certs', 'init']).status, 2);
  });

  test('prints each command’s own usage for <command> --help and help <command>, with exit code 0', () => {
    for (const command of [
      'home',
      'status',
      'chat',
      'submit',
      'models',
      'pull',
      'logs',
      'usage',
      'pools',
      'service',
      'certs',
    ]) {
      const help = llorch([command, '--help']);
      assert.equal(help.status, 0, `${command} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^Usage: llorch ${command}\\b`), command);
      assert.equal(help.stderr, '');
      assert.equal(llorch(['help', command]).stdout, help.stdout);
    }
    // Help wins over a mistake beside it, and starts nothing (no orchestratord is asked, none is started).
    const chat = llorch(['chat', '-h', '--loud'], { LLORCH_URL: 'http://127.0.0.1:9' });
    assert.equal(chat.status, 0);
    assert.match(chat.stdout, /^Usage: llorch chat/);
    assert.equal(llorch(['home', '--help'], { ORCHD_BIND_ADDR: 'not an address' }).status, 0);
    assert.equal(llorch(['help', 'serve']).status, 2);
  });

  test('refuses extra arguments and another command’s options with exit code 2, naming them', () => {
    const cases: [string[], RegExp][] = [
      [['status', 'now'], /llorch status: unexpected argument "now"/],
      [['home', 'demo'], /llorch home: unexpected argument "demo"/],
      [['pools', 'drain', 'demo', 'extra'], /llorch pools: unexpected argument "extra"/],
      [['logs', 'orchestratord', 'pool-managerd'], /llorch logs: unexpected argument "pool-managerd"/],
      [['pull', 'hf:a/b/c.gguf', 'hf:d/e/f.gguf'], /llorch pull: unexpected argument "hf:d\/e\/f.gguf"/],
      [['service', 'install', 'now'], /llorch service: unexpected argument "now"/],
      [['status', '--model', 'demo'], /llorch status: Unknown option '--model'/],
      [['certs', 'init', '--dir', 'x', '--name', 'y'], /llorch certs: init takes only --dir/],
      [['--json', 'status'], /the command goes first/],
      [['--version', 'x'], /takes no arguments/],
    ];
    for (const [args, message] of cases) {
      const run = llorch(args, { LLORCH_URL: 'http://127.0.0.1:9' });
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
    }
  });

  test('words the certs usages as the README does: --usage server|client|both', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(
      readme.indexOf('\n## llorch\n'),
      readme.indexOf('\n## ', readme.indexOf('\n## llorch\n') + 1),
    );
    assert.match(section, /--usage server\|client\|both/);
    assert.match(llorch(['--help']).stdout, /certs issue --dir <dir> --name <cn> --usage server\|client\|both/);
    assert.match(llorch(['certs', '--help']).stdout, /--usage server\|client\|both/);
    const bad = llorch(['certs', 'issue', '--dir', 'x', '--name', 'n', '--usage', 'peer']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--usage server, client or both/);
  });

  test('says where orchestratord does not answer instead of failing obscurely', () => {
    const run = llorch(['status'], { LLORCH_URL: 'http://127.0.0.1:9' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /orchestratord at http:\/\/127\.0\.0\.1:9 does not answer/);
    assert.equal(llorch(['status'], { LLORCH_URL: 'not a url' }).status, 2);
  });

  test('names pools after their model and gives a hint for the usual start-up failures', () => {
    assert.equal(
      poolIdFor('hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf'),
      'qwen2-5-0-5b-instruct-q4-k-m',
    );
    assert.equal(poolIdFor('file:/models/Llama 3.gguf'), 'llama-3');
    assert.match(hintFor(['EADDRINUSE']), /ORCHD_BIND_ADDR/);
    assert.match(hintFor(['PROV_PLAN_REFUSED', 'CUBLAS_MISSING']), /CUDA toolkit/);
    assert.match(hintFor(['PROV_PLAN_REFUSED', 'CMAKE_MISSING', 'COMPILER_MISSING']), /Install cmake/);
    assert.match(hintFor(['PROV_MODEL_NOT_GGUF']), /not GGUF/);
    assert.match(hintFor(['ENOENT']), /See the log above/);
  });

  test('decides by the codes in a daemon’s JSON error line, never by its message text', () => {
    // As pino writes them: pool-managerd's "pool failed to start" and a daemon that could not listen.
    const refused = {
      level: 50,
      pool_id: 'chat',
      err: {
        type: 'PlanRefusedError',
        message: 'cannot provision: CUDA toolkit missing: nvcc not found',
        code: 'PROV_PLAN_REFUSED',
        findings: [{ level: 'error', code: 'NVCC_MISSING', message: 'CUDA toolkit missing: nvcc not found' }],
      },
      msg: 'pool failed to start',
    };
    assert.deepEqual(failureCodes(refused), ['PROV_PLAN_REFUSED', 'NVCC_MISSING']);
    assert.match(hintFor(failureCodes(refused)), /CUDA toolkit/);
    const taken = { level: 50, err: { message: 'listen EADDRINUSE: address already in use', code: 'EADDRINUSE' } };
    assert.match(hintFor(failureCodes(taken)), /A port is taken/);
    // The text alone no longer decides: a message that reads like a known failure but carries no code.
    const uncoded = { level: 50, err: { message: 'x.gguf is not a GGUF model; cmake not found; EADDRINUSE' } };
    assert.deepEqual(failureCodes(uncoded), []);
    assert.match(hintFor(failureCodes(uncoded)), /See the log above/);
    assert.deepEqual(failureCodes({ level: 30, msg: 'pool-managerd listening' }), []);
    assert.deepEqual(failureCodes('not a log line'), []);
  });

  test('shows pools as a table with busy slots, VRAM and the queue depth', () => {
    const pool = {
      pool_id: 'chat',
      node_id: 'tower',
      state: 'ready',
      slots_total: 4,
      slots_free: 1,
      vram_total_bytes: 24 * 1024 ** 3,
      vram_free_bytes: 12 * 1024 ** 3,
      device: 'cuda',
      model: 'hf:x/y/z.gguf',
    } as PoolStatus;
    const table = statusTable([pool], 3);
    assert.match(table, /^NODE\s+POOL\s+STATE/);
    assert.match(table, /tower\s+chat\s+ready\s+3\/4\s+12\.0G\/24\.0G\s+cuda\s+hf:x\/y\/z\.gguf/);
    assert.match(table, /queue depth: 3\n$/);
  });

  test('reads the queue depth from the pool health answer’s metrics, not from /metrics', async (t) => {
    const pool = {
      pool_id: 'chat',
      node_id: 'tower',
      state: 'ready',
      live: true,
      ready: true,
      draining: false,
      model: 'demo',
      engine: 'llamacpp',
      engine_version: 'b1+abc1234-cpu',
      slots_total: 2,
      slots_free: 1,
      ctx_max: 2048,
      device: 'cpu',
      vram_total_bytes: null,
      vram_free_bytes: null,
      last_error: null,
      updated_at: new Date().toISOString(),
    };
    const seen: string[] = [];
    const orchestratord = createServer((req, res) => {
      seen.push(`${req.url ?? ''} ${req.headers.authorization ?? '-'}`);
      const json = (body: unknown): void =>
        void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url === '/v2/pools') json({ pools: [pool] });
      else if (req.url === '/v2/pools/chat/health')
        json({
          pool_id: 'chat',
          live: true,
          ready: true,
          draining: false,
          metrics: { queue_depth: 7, slots_total: 2, slots_free: 1 },
          last_error: null,
        });
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('queue_depth{priority="interactive"} 99\n');
    });
    await new Promise<void>((resolve) => orchestratord.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => orchestratord.close(resolve)));
    const url = `http://127.0.0.1:${(orchestratord.address() as AddressInfo).port}`;
    const env = { ...process.env, LLORCH_URL: url, LLORCH_API_KEY: 'k1' };

    const json = await promisify(execFile)(process.execPath, [CLI, 'status', '--json'], { env, timeout: 30_000 });
    assert.equal((JSON.parse(json.stdout) as { queue_depth: number }).queue_depth, 7);
    const table = await promisify(execFile)(process.execPath, [CLI, 'status'], { env, timeout: 30_000 });
    assert.match(table.stdout, /queue depth: 7\n$/);
    assert.deepEqual(new Set(seen), new Set(['/v2/pools Bearer k1', '/v2/pools/chat/health Bearer k1']));
  });
});
