import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  buildDemoModel,
  checkGgufFile,
  DEMO_MODEL_DEFAULTS,
  kvBytesPerToken,
  readGgufFileHeader,
  readGgufHeader,
} from '../src/index.ts';
import { toFloat16Bits } from '../src/model/demo-model.ts';
import { GgufValueType } from '../src/model/gguf-format.ts';
import { tinyVocabGguf } from './vocab-fixture.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('the demo GGUF writer', () => {
  test('writes an embedding model that declares mean pooling and a rerank model with a classification head', () => {
    const completion = buildDemoModel(tinyVocabGguf());
    const embedding = buildDemoModel(tinyVocabGguf(), null, { ...DEMO_MODEL_DEFAULTS, kind: 'embedding' });
    const rerank = buildDemoModel(tinyVocabGguf(), null, { ...DEMO_MODEL_DEFAULTS, kind: 'rerank' });
    const embd = readGgufHeader(embedding);
    assert.deepEqual(embd.metadata.get('general.architecture'), { type: GgufValueType.STRING, value: 'llama' });
    assert.deepEqual(embd.metadata.get('llama.pooling_type'), { type: GgufValueType.UINT32, value: 1 });
    assert.equal(embd.tensorCount, readGgufHeader(completion).tensorCount);
    assert.equal(readGgufHeader(completion).metadata.get('llama.pooling_type'), undefined);
    const rank = readGgufHeader(rerank);
    const get = (key: string) => rank.metadata.get(key);
    assert.deepEqual(get('general.architecture'), { type: GgufValueType.STRING, value: 'qwen3' });
    assert.deepEqual(get('qwen3.pooling_type'), { type: GgufValueType.UINT32, value: 4 });
    assert.deepEqual(get('qwen3.classifier.output_labels'), {
      type: GgufValueType.ARRAY,
      itemType: GgufValueType.STRING,
      items: ['yes', 'no'],
    });
    assert.equal(get('llama.embedding_length'), undefined);
    // llama's tensors, a q and a k norm per block, and cls.output.weight.
    assert.equal(rank.tensorCount, BigInt(3 + 11 * DEMO_MODEL_DEFAULTS.layers + 1));
    assert.ok(rerank.includes(Buffer.from('cls.output.weight')));
  });

  test('writes a llama model with the vocabulary of the given file and the planned shape', () => {
    const model = buildDemoModel(tinyVocabGguf());
    const header = readGgufHeader(model);
    assert.equal(header.version, 3);
    assert.equal(header.tensorCount, BigInt(3 + 9 * DEMO_MODEL_DEFAULTS.layers));
    const get = (key: string) => header.metadata.get(key);
    assert.deepEqual(get('general.architecture'), { type: GgufValueType.STRING, value: 'llama' });
    assert.deepEqual(get('llama.embedding_length'), { type: GgufValueType.UINT32, value: 64 });
    assert.deepEqual(get('tokenizer.ggml.eos_token_id'), { type: GgufValueType.UINT32, value: 2 });
    const tokens = get('tokenizer.ggml.tokens');
    assert.ok(tokens?.type === GgufValueType.ARRAY && tokens.items.length === 300);
    assert.equal(get('tokenizer.chat_template'), undefined);
    const templated = readGgufHeader(buildDemoModel(tinyVocabGguf(), '{{ messages }}'));
    assert.deepEqual(templated.metadata.get('tokenizer.chat_template'), {
      type: GgufValueType.STRING,
      value: '{{ messages }}',
    });
  });

  test('is deterministic for a seed and differs between seeds', () => {
    const vocab = tinyVocabGguf();
    assert.equal(sha(buildDemoModel(vocab)), sha(buildDemoModel(vocab)));
    assert.notEqual(sha(buildDemoModel(vocab)), sha(buildDemoModel(vocab, null, { ...DEMO_MODEL_DEFAULTS, seed: 7 })));
  });

  test('encodes half floats as IEEE 754 binary16', () => {
    assert.equal(toFloat16Bits(1), 0x3c00);
    assert.equal(toFloat16Bits(-2), 0xc000);
    assert.equal(toFloat16Bits(0.5), 0x3800);
    assert.equal(toFloat16Bits(65504), 0x7bff);
    assert.equal(toFloat16Bits(1e6), 0x7c00);
    assert.equal(toFloat16Bits(0), 0);
  });
});

describe('the GGUF check', () => {
  test('accepts a GGUF file and names what is wrong with anything else', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-gguf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const good = join(dir, 'good.gguf');
    await writeFile(good, tinyVocabGguf(10));
    assert.deepEqual(await checkGgufFile(good), { ok: true, version: 3 });

    const html = join(dir, 'model.gguf');
    await writeFile(html, '<!DOCTYPE html><html>Repository not found</html>');
    const bad = await checkGgufFile(html);
    assert.deepEqual(bad, { ok: false, message: `${html} is not a GGUF model (starts with "<!DO", expected "GGUF")` });

    const v1 = join(dir, 'old.gguf');
    const old = tinyVocabGguf(10);
    old.writeUInt32LE(1, 4);
    await writeFile(v1, old);
    assert.deepEqual(await checkGgufFile(v1), {
      ok: false,
      message: `${v1} is GGUF version 1; llama.cpp reads versions 2 and 3`,
    });

    const missing = await checkGgufFile(join(dir, 'nope.gguf'));
    assert.ok(!missing.ok && missing.message.includes('ENOENT'));
  });
});

describe('the KV cache size of a model', () => {
  test('is layers × KV heads × (key + value length) × 2 bytes, per layer where the header says so', () => {
    // The demo: 2 layers, 4 heads of 16 (64 wide), as many KV heads.
    assert.equal(kvBytesPerToken(readGgufHeader(buildDemoModel(tinyVocabGguf()))), 2 * 4 * (16 + 16) * 2);
    const u32 = (value: number) => ({ type: GgufValueType.UINT32, value }) as const;
    const header = (entries: [string, unknown][]) => ({
      version: 3,
      tensorCount: 0n,
      metadata: new Map([['general.architecture', { type: GgufValueType.STRING, value: 'x' }], ...entries]) as never,
    });
    // Grouped-query attention with explicit key and value lengths: 32 layers × 8 KV heads × (128 + 128) × 2.
    const gqa = header([
      ['x.block_count', u32(32)],
      ['x.embedding_length', u32(4096)],
      ['x.attention.head_count', u32(32)],
      ['x.attention.head_count_kv', u32(8)],
      ['x.attention.key_length', u32(128)],
      ['x.attention.value_length', u32(128)],
    ]);
    assert.equal(kvBytesPerToken(gqa), 32 * 8 * 256 * 2);
    // KV heads per layer (layers that differ): 2 + 4 heads of 16.
    const perLayer = header([
      ['x.block_count', u32(2)],
      ['x.embedding_length', u32(64)],
      ['x.attention.head_count', u32(4)],
      ['x.attention.head_count_kv', { type: GgufValueType.ARRAY, itemType: GgufValueType.UINT32, items: [2, 4] }],
    ]);
    assert.equal(kvBytesPerToken(perLayer), (2 + 4) * (16 + 16) * 2);
    assert.equal(kvBytesPerToken(header([['x.block_count', u32(2)]])), null, 'not enough to know');
  });

  test('reads a header longer than its first read from the file, and refuses one cut short', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-kv-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // A vocabulary of 150,000 tokens puts the header past the first megabyte.
    const big = buildDemoModel(tinyVocabGguf(150_000));
    assert.ok(readGgufHeader(big).metadata.size > 0);
    await writeFile(join(dir, 'big.gguf'), big);
    const header = await readGgufFileHeader(join(dir, 'big.gguf'));
    const tokens = header.metadata.get('tokenizer.ggml.tokens');
    assert.ok(tokens?.type === GgufValueType.ARRAY && tokens.items.length === 150_000);
    assert.equal(kvBytesPerToken(header), 512);
    await writeFile(join(dir, 'cut.gguf'), big.subarray(0, 1 << 20));
    await assert.rejects(readGgufFileHeader(join(dir, 'cut.gguf')), RangeError);
  });
});
