import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { homeConfig, modelReference } from '../src/home/home-config.ts';

describe('llorch home --model', () => {
  test('takes a bare path to a GGUF file as the file: reference of that file, made absolute', () => {
    const cwd = '/home/me/work';
    const home = '/home/me';
    assert.equal(modelReference('/srv/models/x.gguf', cwd, home), 'file:/srv/models/x.gguf');
    assert.equal(modelReference('./models/x.gguf', cwd, home), 'file:/home/me/work/models/x.gguf');
    assert.equal(modelReference('../x.GGUF', cwd, home), 'file:/home/me/x.GGUF');
    assert.equal(modelReference('~/models/x.gguf', cwd, home), 'file:/home/me/models/x.gguf');
    assert.equal(modelReference('x.gguf', cwd, home), 'file:/home/me/work/x.gguf');
    assert.equal(modelReference('file:models/x.gguf', cwd, home), 'file:/home/me/work/models/x.gguf');
    for (const ref of ['demo', 'hf:Qwen/Q-GGUF/q.gguf', 'https://example.com/x.gguf', 'file:/srv/x.gguf', 'qwen'])
      assert.equal(modelReference(ref, cwd, home), ref);
  });

  test('serves a bare path as one pool named after the file, and refuses what is neither path nor reference', async (t) => {
    const state = await mkdtemp(join(tmpdir(), 'llorch-model-'));
    t.after(() => rm(state, { recursive: true, force: true }));
    const served = await homeConfig(state, undefined, '/srv/models/Qwen2.5-0.5B-Q4_K_M.gguf');
    assert.ok(served.ok);
    assert.deepEqual(served.value.pools, [
      { id: 'qwen2-5-0-5b-q4-k-m', model: 'file:/srv/models/Qwen2.5-0.5B-Q4_K_M.gguf' },
    ]);
    assert.match(await readFile(served.value.file, 'utf8'), /model: "file:\/srv\/models\/Qwen2\.5-0\.5B-Q4_K_M\.gguf"/);

    const refused = await homeConfig(state, undefined, 'qwen');
    assert.equal(refused.ok, false);
    assert.match(
      refused.ok ? '' : refused.message,
      /^--model: must be "demo", file:<path>, .* \(or the path of a \.gguf file\)$/,
    );
  });
});
