import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCli } from '../src/config.ts';
import { downloadLine } from '../src/progress.ts';

describe('engine-provisioner command line', () => {
  test('takes the config from --config or LLORCH_CONFIG and the pools from --pool', () => {
    const fromFlag = parseCli(['up', '--config', 'a.yaml', '--pool', 'x', '--pool', 'y'], { LLORCH_CONFIG: 'b.yaml' });
    assert.ok(fromFlag.kind === 'run');
    assert.equal(fromFlag.cli.configFile, 'a.yaml');
    assert.deepEqual(fromFlag.cli.pools, ['x', 'y']);
    const fromEnv = parseCli(['plan'], {
      LLORCH_CONFIG: 'b.yaml',
      ENGINE_PROVISIONER_GPU_MASK: '0,2',
      ENGINE_PROVISIONER_HEALTH_TIMEOUT_MS: '5000',
    });
    assert.ok(fromEnv.kind === 'run');
    assert.equal(fromEnv.cli.configFile, 'b.yaml');
    assert.deepEqual(fromEnv.cli.gpuMask, [0, 2]);
    assert.equal(fromEnv.cli.healthTimeoutMs, 5000);
    assert.ok(Object.isFrozen(fromEnv.cli));
  });

  test('names the variable or argument that is wrong', () => {
    assert.deepEqual(parseCli(['up'], {}), {
      kind: 'error',
      message: 'no config: pass --config <file> or set LLORCH_CONFIG',
    });
    assert.deepEqual(parseCli(['deploy'], {}), { kind: 'error', message: 'unknown command "deploy": plan or up' });
    const timeout = parseCli(['up'], { LLORCH_CONFIG: 'x', ENGINE_PROVISIONER_HEALTH_TIMEOUT_MS: 'soon' });
    assert.ok(
      timeout.kind === 'error' && timeout.message.startsWith('bad environment: ENGINE_PROVISIONER_HEALTH_TIMEOUT_MS: '),
    );
    const flag = parseCli(['up', '--verbose'], {});
    assert.ok(flag.kind === 'error' && flag.message.includes('--verbose'));
    assert.deepEqual(parseCli(['--help'], {}), { kind: 'help' });
  });
});

describe('download progress line', () => {
  test('shows bytes, percent, rate and ETA', () => {
    const mb = 1024 * 1024;
    assert.equal(
      downloadLine('chat', { bytes: 50 * mb, total: 200 * mb, bytesPerSecond: 10 * mb, etaSeconds: 75 }),
      'model chat: 50.0/200.0 MB 25% at 10.0 MB/s, ETA 1m15s',
    );
    assert.equal(
      downloadLine('chat', { bytes: mb, total: null, bytesPerSecond: 0, etaSeconds: null }),
      'model chat: 1.0/? MB at 0.0 MB/s, ETA ?',
    );
  });
});
