import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));
const SERVICE = 'pool-managerd.llama-orch.svc.cluster.local';

function llorch(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function caDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llorch-certs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(llorch(['certs', 'init', '--dir', dir]).status, 0);
  return dir;
}

describe('llorch certs issue --host', () => {
  test('takes a wildcard name for the pods of a headless Service, which TLS clients accept for each pod name', async (t) => {
    const dir = await caDir(t);
    const run = llorch([
      'certs',
      'issue',
      '--dir',
      dir,
      '--name',
      'pool-managerd',
      '--usage',
      'both',
      '--host',
      SERVICE,
      '--host',
      `*.${SERVICE}`,
    ]);
    assert.equal(run.status, 0, run.stderr);
    const cert = new X509Certificate(readFileSync(join(dir, 'pool-managerd.crt')));
    assert.match(cert.subjectAltName ?? '', /DNS:\*\.pool-managerd\.llama-orch\.svc\.cluster\.local/);
    const legacy = cert.toLegacyObject();
    assert.equal(checkServerIdentity(`pool-managerd-0.${SERVICE}`, legacy), undefined, 'a pod name');
    assert.equal(checkServerIdentity(SERVICE, legacy), undefined, 'the Service name');
  });

  test('refuses a * anywhere else with the reason, writing nothing', async (t) => {
    const dir = await caDir(t);
    for (const [host, reason] of [
      [`pool-managerd-*.${SERVICE}`, /whole leftmost label/],
      [`*.*.${SERVICE}`, /only the leftmost label may be a wildcard/],
      ['*.local', /at least two labels after "\*\."/],
    ] as const) {
      const run = llorch(['certs', 'issue', '--dir', dir, '--name', 'node', '--usage', 'server', '--host', host]);
      assert.equal(run.status, 2, host);
      assert.ok(run.stderr.startsWith(`llorch certs issue: --host ${host}: `), run.stderr);
      assert.match(run.stderr, reason);
    }
    assert.equal(existsSync(join(dir, 'node.crt')), false);
  });
});
