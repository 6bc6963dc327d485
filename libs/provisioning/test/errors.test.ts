import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import {
  EngineProvisioner,
  PROVISIONING_ERROR_CODES,
  PlanRefusedError,
  ProvisioningError,
  StoppedError,
  ensureModel,
  probeEngineVersion,
  provisioningCode,
  type ProvisionTarget,
} from '../src/index.ts';
import { startEngine } from '../src/launch/engine-process.ts';
import { tinyVocabGguf } from './vocab-fixture.ts';
import { cpuHost } from './host-fixtures.ts';

const noVocab = (): Promise<string> => Promise.reject(new Error('no vocabulary needed'));

/** The code a rejected promise carries, or a failure naming what it rejected with instead. */
async function codeOf(work: Promise<unknown>): Promise<string | null> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof ProvisioningError, `a ProvisioningError, not ${String(error)}`);
    return error.code;
  }
  return assert.fail('expected a rejection');
}

function target(dir: string): ProvisionTarget {
  return {
    nodeId: 'tower',
    cacheDir: join(dir, 'cache'),
    handoffDir: join(dir, 'engines'),
    engine: { source: 'npm:node-llama-cpp@3.22.1', device: 'cpu', curl: false },
    pools: [{ id: 'chat', model: 'demo', ctx: 2048, slots: 2, replicas: 1 }],
    hfEndpoint: 'https://huggingface.co',
  };
}

describe('provisioning error codes', () => {
  test('every failure carries its stable code, whatever its message says', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'prov-codes-'));
    t.after(() => rm(dir, { recursive: true, force: true }));

    const refused = new EngineProvisioner(target(dir), { host: { ...cpuHost, cmake: null, cxx: null }, env: {} });
    const plan = await refused.start().catch((error: unknown) => error);
    assert.ok(plan instanceof PlanRefusedError);
    assert.equal(plan.code, 'PROV_PLAN_REFUSED');
    assert.deepEqual(
      plan.findings.map((f) => f.code),
      ['CMAKE_MISSING', 'COMPILER_MISSING'],
    );

    const text = join(dir, 'page.gguf');
    await writeFile(text, '<!DOCTYPE html><html></html>');
    const gguf = join(dir, 'tiny.gguf');
    await writeFile(gguf, tinyVocabGguf(300));
    const model = (path: string, expectedSha256?: string) =>
      ensureModel({ kind: 'file', path }, { vocabSourceDir: noVocab, expectedSha256 });
    assert.equal(await codeOf(model(join(dir, 'absent.gguf'))), 'PROV_MODEL_NOT_FOUND');
    assert.equal(await codeOf(model(text)), 'PROV_MODEL_NOT_GGUF');
    assert.equal(await codeOf(model(gguf, '0'.repeat(64))), 'PROV_MODEL_DIGEST_MISMATCH');

    const hub = createServer((_req, res) => res.writeHead(404).end('no such file'));
    await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => hub.close(resolve)));
    const url = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/org/repo/resolve/main/m.gguf`;
    const download = ensureModel(
      { kind: 'download', url, path: join(dir, 'models', 'm.gguf') },
      { vocabSourceDir: noVocab },
    );
    assert.equal(await codeOf(download), 'PROV_MODEL_FETCH_FAILED');

    assert.equal(await codeOf(probeEngineVersion(join(dir, 'no-llama-server'))), 'PROV_ENGINE_UNUSABLE');
    const exits = startEngine({
      argv: ['/bin/false'],
      env: {},
      port: 9,
      logFile: join(dir, 'engine.log'),
      healthTimeoutMs: 10_000,
      baseEnv: {},
    });
    assert.equal(await codeOf(exits), 'PROV_ENGINE_START_FAILED');
    assert.equal(new StoppedError('the build').code, 'PROV_STOPPED');

    for (const code of ['PROV_PLAN_REFUSED', 'PROV_MODEL_NOT_GGUF', 'PROV_ENGINE_START_FAILED'] as const)
      assert.ok(PROVISIONING_ERROR_CODES[code].length > 0, `${code} is in the catalogue`);
    assert.equal(provisioningCode(new Error('cmake not found')), null);
  });

  test("pino's JSON log line carries the code as err.code, and a refused plan's findings but not its plan", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = pino({ name: 'pool-managerd' }, sink);
    const refused = new EngineProvisioner(target('/nonexistent'), {
      host: { ...cpuHost, cmake: null },
      env: {},
    });
    log.error({ pool_id: 'chat', err: new PlanRefusedError(refused.plan) }, 'pool failed to start');

    const line = JSON.parse(lines[0] ?? '{}') as {
      pool_id: string;
      err: { type: string; code: string; findings: { code: string }[]; plan?: unknown };
    };
    assert.equal(line.pool_id, 'chat');
    assert.equal(line.err.type, 'PlanRefusedError');
    assert.equal(line.err.code, 'PROV_PLAN_REFUSED');
    assert.deepEqual(
      line.err.findings.map((f) => f.code),
      ['CMAKE_MISSING'],
    );
    assert.equal(line.err.plan, undefined);
  });
});
