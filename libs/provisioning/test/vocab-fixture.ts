import { GgufValueType, type GgufValue } from '../src/model/gguf-format.ts';
import { encodeGguf } from '../src/model/gguf-writer.ts';

/** A small tokenizer-only GGUF shaped like llama.cpp's models/ggml-vocab-llama-spm.gguf. */
export function tinyVocabGguf(size = 300): Buffer {
  const tokens = Array.from({ length: size }, (_, i) => (i < 3 ? (['<unk>', '<s>', '</s>'][i] ?? '') : `▁t${i}`));
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', { type: GgufValueType.STRING, value: 'llama' }],
    ['tokenizer.ggml.model', { type: GgufValueType.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: tokens }],
    [
      'tokenizer.ggml.scores',
      { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, items: tokens.map((_, i) => -i) },
    ],
    [
      'tokenizer.ggml.token_type',
      { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, items: tokens.map((_, i) => (i < 3 ? 3 : 1)) },
    ],
    ['tokenizer.ggml.bos_token_id', { type: GgufValueType.UINT32, value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: GgufValueType.UINT32, value: 2 }],
  ]);
  return encodeGguf(metadata, []);
}
