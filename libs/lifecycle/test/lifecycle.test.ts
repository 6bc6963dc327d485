import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StopStack } from '../src/index.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('the stop stack', () => {
  test('stops in reverse order, goes on past a failing step, and unwinds only once', async () => {
    const order: string[] = [];
    const warnings: string[] = [];
    const stack = new StopStack({ ...quiet, warn: (_f, message) => warnings.push(message) });
    stack.push(() => void order.push('first'));
    stack.push(() => {
      throw new Error('boom');
    });
    stack.push(async () => {
      await Promise.resolve();
      order.push('last');
    });
    await stack.unwind();
    await stack.unwind();
    assert.deepEqual(order, ['last', 'first']);
    assert.deepEqual(warnings, ['error while stopping']);
  });
});
