import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { PoolStatus } from '@llama-orch/contracts';
import { testEngine } from '../src/engine-fixture.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { readHandoff, tempNode } from '../src/provisioner-cli.ts';
import { ProcessTree } from './home-process-tree.ts';

describe('engines under a pool-managerd that dies (HOME, in-process)', { timeout: 10 * 60_000 }, () => {
  test('kill -9 of pool-managerd takes its engine down too: nothing of it runs on under init', async (t) => {
    const fixture = await testEngine();
    const node = await tempNode(
      (dir) => `node_id: home
runtime_dir: ${dir}/run
cache_dir: ${fixture.cacheDir}
engine: { device: cpu }
pools:
  - { id: chat, model: demo, ctx: 512, slots: 1 }
`,
    );
    t.after(node.cleanup);
    const pm = await startPoolManagerd({ LLORCH_CONFIG: node.configFile });
    const tree = new ProcessTree(pm.proc.child.pid ?? 0);
    t.after(() => tree.close());
    t.after(pm.stop);
    await waitFor(
      'the pool to be ready',
      async () => ((await jsonRequest<PoolStatus>(`${pm.url}/v2/pools/chat/status`)).body.ready ? true : undefined),
      60_000,
    );
    const handoff = await readHandoff(join(node.handoffDir, 'chat-r0.json'));
    assert.ok(handoff);
    tree.scan();
    assert.deepEqual(tree.engines(), [handoff.pid]);
    // The engine's log is the runtime directory's, named after its pool and replica.
    assert.match(
      await readFile(join(node.dir, 'run', 'logs', 'engine-chat-r0.log'), 'utf8'),
      /^# .* \$ .*llama-server/m,
    );

    pm.proc.child.kill('SIGKILL');
    await pm.proc.exited;
    const left = await waitFor(
      'nothing of pool-managerd to run any more',
      () => {
        const running = tree.running();
        return running.length === 0 ? running : undefined;
      },
      20_000,
      100,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; still running:\n${tree.running().join('\n')}`);
    });
    assert.deepEqual(left, []);
  });
});
