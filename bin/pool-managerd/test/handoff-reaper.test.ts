import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { engineAgent } from '../src/engines/engine-agent.ts';
import { HandoffReaper } from '../src/watcher/handoff-reaper.ts';
import { handoff } from './handoff-fixture.ts';

/** The pid of a process that has exited: an engine that is gone. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = child.pid;
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(pid !== undefined);
  return pid;
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the handoff reaper (POOL_MANAGERD_AUTO_DELETE_HANDOFF)', () => {
  test('deletes the handoff of a gone engine, keeps a newer one, keeps one whose URL still answers, and finds none twice', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-reap-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const agent = engineAgent();
    t.after(() => agent.close());
    const reaper = new HandoffReaper(dir, agent, pino({ level: 'silent' }));
    const file = join(dir, 'chat-r0.json');
    const gone = handoff({ pid: await deadPid(), url: `http://127.0.0.1:${await closedPort()}` });

    await writeFile(file, JSON.stringify(gone));
    assert.equal(await reaper.reap(gone), 'deleted');
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await reaper.reap(gone), 'absent');

    // A provisioner restarted the engine in the meantime: the new handoff (new pid) stays, byte for byte.
    const newer = JSON.stringify(handoff({ pid: process.pid, url: gone.url }));
    await writeFile(file, newer);
    assert.equal(await reaper.reap(gone), 'kept');
    assert.equal(await readFile(file, 'utf8'), newer);
    assert.deepEqual(await readdir(dir), ['chat-r0.json'], 'nothing is left set aside');

    // Its pid is not seen (another PID namespace, say) but its URL answers: not gone, kept.
    const server: Server = createServer((_req, res) => res.end('{"status":"ok"}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const answering = handoff({ pid: gone.pid, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    await writeFile(file, JSON.stringify(answering));
    assert.equal(await reaper.reap(answering), 'kept');
    assert.equal(await readFile(file, 'utf8'), JSON.stringify(answering));
  });
});
