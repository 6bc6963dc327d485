import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPercent, DEFAULT_BACKOFF, parseNvidiaSmi, restartDelay } from '../src/index.ts';
import { isStorm } from '../src/launch/backoff.ts';

describe('nvidia-smi parsing', () => {
  test('reads index, uuid, name, memory in bytes and compute capability', () => {
    const gpus = parseNvidiaSmi(
      '0, GPU-aaaa, NVIDIA GeForce RTX 3090, 24576, 1024, 23552, 8.6\n1, GPU-b, A100, 81920, 0, 81920, [N/A]\ngarbage\n',
    );
    assert.equal(gpus.length, 2);
    assert.deepEqual(gpus[0], {
      index: 0,
      uuid: 'GPU-aaaa',
      name: 'NVIDIA GeForce RTX 3090',
      memoryTotalBytes: 24576 * 1024 * 1024,
      memoryUsedBytes: 1024 * 1024 * 1024,
      memoryFreeBytes: 23552 * 1024 * 1024,
      computeCapability: '8.6',
    });
    assert.equal(gpus[1]?.computeCapability, null);
  });
});

describe('build progress', () => {
  test('reads percent from Ninja and Make lines and ignores others', () => {
    assert.equal(buildPercent('[105/210] Building CXX object x.o'), 50);
    assert.equal(buildPercent('[ 45%] Building CXX object x.o'), 45);
    assert.equal(buildPercent('-- Configuring done'), null);
  });
});

describe('restart backoff', () => {
  test('doubles from the initial delay up to the cap, with at most 10 % jitter', () => {
    const policy = { ...DEFAULT_BACKOFF, initialMs: 100, maxMs: 1000 };
    assert.equal(
      restartDelay(policy, 1, () => 0.5),
      100,
    );
    assert.equal(
      restartDelay(policy, 3, () => 0.5),
      400,
    );
    assert.equal(
      restartDelay(policy, 10, () => 0.5),
      1000,
    );
    assert.equal(
      restartDelay(policy, 1, () => 0),
      90,
    );
    assert.equal(
      restartDelay(policy, 10, () => 1),
      1000,
    );
  });

  test('calls it a storm when the limit of restarts falls within the window', () => {
    const policy = { ...DEFAULT_BACKOFF, stormRestarts: 3, stormWindowMs: 1000 };
    assert.equal(isStorm(policy, [100, 200], 500), false);
    assert.equal(isStorm(policy, [100, 200, 300], 500), true);
    assert.equal(isStorm(policy, [100, 200, 300], 1250), false);
  });
});
