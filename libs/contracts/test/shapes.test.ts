import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contractShapes, validate } from '../src/index.ts';
import { examples } from './examples/index.ts';

describe('every contract shape', () => {
  const shapes = contractShapes();

  test('has valid and invalid examples', () => {
    const missing = [...shapes.keys()].filter((id) => {
      const set = examples[id];
      return set === undefined || set.valid.length === 0 || set.invalid.length === 0;
    });
    assert.deepEqual(missing, [], `shapes without examples: ${missing.join(', ')}`);
    const stale = Object.keys(examples).filter((id) => !shapes.has(id));
    assert.deepEqual(stale, [], `examples for unknown shapes: ${stale.join(', ')}`);
  });

  for (const [id, schema] of shapes) {
    const set = examples[id];
    if (set === undefined) continue;
    test(`${id} accepts each valid example`, () => {
      for (const example of set.valid) {
        const result = validate(schema, example.value);
        assert.ok(result.ok, `${id} / ${example.name}: ${result.ok ? '' : result.message}`);
      }
    });
    test(`${id} rejects each invalid example with a message naming the field`, () => {
      for (const example of set.invalid) {
        const result = validate(schema, example.value);
        assert.equal(result.ok, false, `${id} / ${example.name} was accepted`);
        if (result.ok) continue;
        const paths = result.issues.map((issue) => issue.path);
        assert.ok(
          paths.includes(example.field),
          `${id} / ${example.name}: expected ${example.field} in [${paths.join(', ')}]`,
        );
        assert.match(result.message, new RegExp(`(^|; )${example.field.replace(/[[\]().]/g, '\\$&')}: `));
      }
    });
  }
});
