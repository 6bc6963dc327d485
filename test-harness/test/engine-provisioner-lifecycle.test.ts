import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { testEngine } from '../src/engine-fixture.ts';
import { isAlive, killPid, stopProcess, waitFor } from '../src/processes.ts';
import { readHandoff, runProvisioner, tempNode } from '../src/provisioner-cli.ts';

describe('engine-provisioner lifecycle', { timeout: 45 * 60_000 }, () => {
  test('stops promptly when told to while it is still building, kills the build and caches nothing', async (t) => {
    const node = await tempNode(
      (dir) => `runtime_dir: ${dir}/run
cache_dir: ${dir}/cache
engine: { source: "path:${dir}/llama.cpp", device: cpu }
pools: [{ id: demo, model: demo, ctx: 512, slots: 1 }]
`,
    );
    t.after(node.cleanup);
    await mkdir(join(node.dir, 'llama.cpp'));
    const marker = join(node.dir, 'configure-started');
    await writeFile(
      join(node.dir, 'llama.cpp', 'CMakeLists.txt'),
      `cmake_minimum_required(VERSION 3.14)
project(slow NONE)
file(WRITE "${marker}" "")
execute_process(COMMAND sh -c "echo $$ > ${marker}; exec sleep 120")
`,
    );
    const proc = runProvisioner(['up', '--config', node.configFile]);
    t.after(() => stopProcess(proc));
    const sleeper = await waitFor('the configure step to start its child', async () => {
      const pid = Number((await readFile(marker, 'utf8').catch(() => '')).trim());
      return pid > 0 ? pid : undefined;
    });
    t.after(() => killPid(sleeper));
    const asked = Date.now();
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exited, 0, proc.output());
    assert.ok(Date.now() - asked < 10_000, 'stopped within 10 s');
    await waitFor('the build child to be gone', () => (isAlive(sleeper) ? undefined : true), 5_000);
    assert.deepEqual(await readdir(join(node.dir, 'cache', 'engines')).catch(() => []), []);
  });

  test('a second provisioner for the same handoff directory refuses and leaves the first one serving', async (t) => {
    const fixture = await testEngine();
    const node = await tempNode(
      (dir) => `runtime_dir: ${dir}/run
cache_dir: ${fixture.cacheDir}
engine: { device: cpu }
pools: [{ id: once, model: demo, ctx: 512, slots: 1 }]
`,
    );
    const first = runProvisioner(['up', '--config', node.configFile]);
    let enginePid = 0;
    t.after(async () => {
      await stopProcess(first);
      killPid(enginePid);
      await node.cleanup();
    });
    const handoff = await waitFor(
      'the first handoff',
      () => readHandoff(join(node.handoffDir, 'once-r0.json')),
      120_000,
    );
    enginePid = handoff.pid;
    const second = runProvisioner(['up', '--config', node.configFile]);
    t.after(() => stopProcess(second));
    assert.equal(await second.exited, 1);
    assert.match(second.output(), /another engine-provisioner is running for/);
    assert.ok(isAlive(handoff.pid), 'the first engine still runs');
    assert.equal((await readHandoff(join(node.handoffDir, 'once-r0.json')))?.pid, handoff.pid);
  });
});
