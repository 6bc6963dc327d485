/**
 * Issue 10, defect 6: `llorch chat "hi" | head -c 50` (and `llorch submit`) died with an unhandled EPIPE stack trace
 * and left the task running until the reconnect grace ran out. Through a real pipe into a real `head`, against a
 * real cluster: llorch exits quietly with 0 and the task is canceled on the server by the client, at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { PoolList } from '@llama-orch/contracts';
import { request } from 'undici';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { waitFor } from '../src/processes.ts';
import { STREAM_BUDGET_MS, within } from '../src/sse.ts';

const LLORCH = fileURLToPath(new URL('../../bin/llorch/bin/llorch.js', import.meta.url));

async function canceledByClient(url: string): Promise<number> {
  const text = await (await request(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).body.text();
  const line = text.split('\n').find((l) => l.startsWith('tasks_canceled_total{reason="client"}'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** `llorch <args> | head -c 50` in bash; llorch's own exit status from PIPESTATUS, its stderr apart. */
async function intoHead(
  url: string,
  args: string,
): Promise<{ head: Buffer; llorchStatus: number; stderr: string; code: number | null }> {
  const line = `'${process.execPath}' '${LLORCH}' ${args} 2>"$ERR" | head -c 50; status=("\${PIPESTATUS[@]}"); printf '\\n%s' "\${status[0]}"`;
  const child = spawn('bash', ['-c', `ERR=$(mktemp); ${line}; printf '\\n'; cat "$ERR"; rm -f "$ERR"`], {
    env: { ...process.env, LLORCH_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => chunks.push(c));
  const out = (): Buffer => Buffer.concat(chunks);
  const code = await within(
    `llorch ${args} | head -c 50`,
    STREAM_BUDGET_MS,
    (signal) => {
      signal.addEventListener('abort', () => child.kill('SIGKILL'));
      return new Promise<number | null>((resolve) => child.once('exit', resolve));
    },
    () => out().toString(),
  );
  // head's 50 bytes (not characters: the demo model writes Cyrillic too), then the status line and stderr.
  const head = out().subarray(0, 50);
  const [status = '', ...stderr] = out().subarray(51).toString().split('\n');
  return { head, llorchStatus: Number(status), stderr: stderr.join('\n').trim(), code };
}

describe('llorch into a pipe that closes (issue 10, defect 6)', { timeout: 20 * 60_000 }, () => {
  test('llorch chat and llorch submit piped into head -c 50 exit quietly with 0 and cancel the task on the server', async (t) => {
    // One slot, a long context and 4,000 tokens asked: the answer is far from done when head has its 50 bytes.
    const cluster = await startCluster([[{ id: 'demo', slots: 1, ctx: 8192 }]]);
    t.after(cluster.cleanup);
    for (const args of [`chat 'Go on:' --max-tokens 4000`, `submit 'Go on:' --max-tokens 4000`]) {
      const before = await canceledByClient(cluster.url);
      const run = await intoHead(cluster.url, args);
      assert.equal(run.code, 0);
      assert.equal(run.head.length, 50, `head got its 50 bytes: ${JSON.stringify(run.head.toString())}`);
      assert.equal(run.stderr, '', `llorch ${args} wrote to stderr`);
      assert.equal(run.llorchStatus, 0, `llorch ${args} exit status`);
      // Canceled by the client (not by the disconnect grace), while it still ran: the slot is free at once.
      await waitFor(
        `the task of llorch ${args} canceled by the client`,
        async () => ((await canceledByClient(cluster.url)) === before + 1 ? true : undefined),
        10_000,
      );
      await waitFor('the slot to be free again', async () => {
        const pools = (await jsonRequest<PoolList>(`${cluster.url}/v2/pools`)).body.pools;
        return pools.every((p) => p.slots_free === p.slots_total) ? true : undefined;
      });
    }
  });
});
