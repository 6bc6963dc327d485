import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_ENGINE_SOURCE, parseEngineSource, parseModelRef } from '../src/index.ts';

describe('model references', () => {
  test('parse into demo, file, hf and https models', () => {
    assert.deepEqual(parseModelRef('demo'), { ok: true, value: { kind: 'demo' } });
    assert.deepEqual(parseModelRef('file:./m.gguf'), { ok: true, value: { kind: 'file', path: './m.gguf' } });
    assert.deepEqual(parseModelRef('hf:bartowski/Llama-3.2-1B-GGUF/sub/dir/model-Q4_K_M.gguf'), {
      ok: true,
      value: { kind: 'hf', org: 'bartowski', repo: 'Llama-3.2-1B-GGUF', file: 'sub/dir/model-Q4_K_M.gguf' },
    });
    assert.deepEqual(parseModelRef('https://example.org/a.gguf?download=1'), {
      ok: true,
      value: { kind: 'https', url: 'https://example.org/a.gguf?download=1' },
    });
  });

  test('refuse plain http, empty files and path escapes with an example of the right form', () => {
    for (const bad of ['http://example.org/a.gguf', 'file:', 'hf:org/repo/../x.gguf', 'hf:org/repo', 'model.gguf']) {
      const parsed = parseModelRef(bad);
      assert.equal(parsed.ok, false, bad);
      if (!parsed.ok) assert.ok(parsed.message.length > 10);
    }
    const hf = parseModelRef('hf:org/repo');
    assert.ok(!hf.ok && hf.message.includes('hf:<org>/<repo>/<file.gguf>'));
  });
});

describe('engine sources', () => {
  test('parse the npm bundle, git, path and binary forms', () => {
    assert.deepEqual(parseEngineSource(DEFAULT_ENGINE_SOURCE), {
      ok: true,
      value: { kind: 'npm', package: 'node-llama-cpp', version: DEFAULT_ENGINE_SOURCE.split('@')[1] },
    });
    assert.deepEqual(parseEngineSource('git:https://github.com/ggml-org/llama.cpp.git#b6500'), {
      ok: true,
      value: { kind: 'git', url: 'https://github.com/ggml-org/llama.cpp.git', ref: 'b6500' },
    });
    assert.deepEqual(parseEngineSource('git:git@host:a/b.git#main'), {
      ok: true,
      value: { kind: 'git', url: 'git@host:a/b.git', ref: 'main' },
    });
    assert.deepEqual(parseEngineSource('path:/src/llama.cpp'), {
      ok: true,
      value: { kind: 'path', dir: '/src/llama.cpp' },
    });
    assert.deepEqual(parseEngineSource('binary:/opt/llama-server'), {
      ok: true,
      value: { kind: 'binary', path: '/opt/llama-server' },
    });
  });

  test('refuse other packages, version ranges and unknown schemes', () => {
    for (const bad of [
      'npm:left-pad@1.0.0',
      'npm:node-llama-cpp@latest',
      'npm:node-llama-cpp',
      'git:#main',
      'docker:llama',
      'binary:',
    ]) {
      assert.equal(parseEngineSource(bad).ok, false, bad);
    }
  });
});
