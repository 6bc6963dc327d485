import { GgmlType, GgufValueType, type GgufValue } from './gguf-format.ts';
import { readGgufHeader } from './gguf-reader.ts';
import { encodeGguf, type GgufTensor } from './gguf-writer.ts';

/** Shape of the demo model: a tiny llama whose weights are random but fixed by the seed. */
export interface DemoModelOptions {
  readonly seed: number;
  readonly embedding: number;
  readonly layers: number;
  readonly heads: number;
  readonly feedForward: number;
  readonly contextLength: number;
}

export const DEMO_MODEL_DEFAULTS: DemoModelOptions = {
  seed: 42,
  embedding: 64,
  layers: 2,
  heads: 4,
  feedForward: 128,
  contextLength: 4096,
};

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same model on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function f32Tensor(name: string, dims: number[], fill: (i: number) => number): GgufTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const data = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i += 1) data.writeFloatLE(fill(i), i * 4);
  return { name, dims, type: GgmlType.F32, data };
}

const f32Bits = new DataView(new ArrayBuffer(4));

/** IEEE 754 half precision, round to nearest even; subnormals flush to zero (weights here are never that small). */
export function toFloat16Bits(value: number): number {
  f32Bits.setFloat32(0, value);
  const bits = f32Bits.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  let half = sign | (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return half;
}

function f16Tensor(name: string, dims: number[], fill: (i: number) => number): GgufTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const data = Buffer.alloc(count * 2);
  for (let i = 0; i < count; i += 1) data.writeUInt16LE(toFloat16Bits(fill(i)), i * 2);
  return { name, dims, type: GgmlType.F16, data };
}

const u32 = (value: number): GgufValue => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value });
const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });

/**
 * Build the demo GGUF: llama architecture, the tokenizer of `vocabGguf` (llama.cpp's
 * models/ggml-vocab-llama-spm.gguf), random weights from the seed. A few MB; loads in llama-server.
 */
export function buildDemoModel(vocabGguf: Buffer, options: DemoModelOptions = DEMO_MODEL_DEFAULTS): Buffer {
  const vocab = readGgufHeader(vocabGguf);
  const tokens = vocab.metadata.get('tokenizer.ggml.tokens');
  if (tokens?.type !== GgufValueType.ARRAY) throw new Error('vocabulary file has no tokenizer.ggml.tokens');
  const nVocab = tokens.items.length;
  const { embedding: nEmbd, layers, heads, feedForward: nFf } = options;
  const headDim = nEmbd / heads;

  const metadata = new Map<string, GgufValue>([
    ['general.architecture', str('llama')],
    ['general.name', str(`llama-orch demo (seed ${options.seed})`)],
    ['general.file_type', u32(1)],
    ['llama.context_length', u32(options.contextLength)],
    ['llama.embedding_length', u32(nEmbd)],
    ['llama.block_count', u32(layers)],
    ['llama.feed_forward_length', u32(nFf)],
    ['llama.attention.head_count', u32(heads)],
    ['llama.attention.head_count_kv', u32(heads)],
    ['llama.rope.dimension_count', u32(headDim)],
    ['llama.rope.freq_base', f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['llama.vocab_size', u32(nVocab)],
  ]);
  for (const [key, value] of vocab.metadata) if (key.startsWith('tokenizer.')) metadata.set(key, value);

  const random = prng(options.seed);
  const weight = (scale: number) => () => (random() * 2 - 1) * scale;
  const ones = () => 1;
  const tensors: GgufTensor[] = [
    f16Tensor('token_embd.weight', [nEmbd, nVocab], weight(0.5)),
    f32Tensor('output_norm.weight', [nEmbd], ones),
  ];
  const linear = 1 / Math.sqrt(nEmbd);
  for (let l = 0; l < layers; l += 1) {
    tensors.push(
      f32Tensor(`blk.${l}.attn_norm.weight`, [nEmbd], ones),
      f16Tensor(`blk.${l}.attn_q.weight`, [nEmbd, nEmbd], weight(linear)),
      f16Tensor(`blk.${l}.attn_k.weight`, [nEmbd, nEmbd], weight(linear)),
      f16Tensor(`blk.${l}.attn_v.weight`, [nEmbd, nEmbd], weight(linear)),
      f16Tensor(`blk.${l}.attn_output.weight`, [nEmbd, nEmbd], weight(linear)),
      f32Tensor(`blk.${l}.ffn_norm.weight`, [nEmbd], ones),
      f16Tensor(`blk.${l}.ffn_gate.weight`, [nEmbd, nFf], weight(linear)),
      f16Tensor(`blk.${l}.ffn_up.weight`, [nEmbd, nFf], weight(linear)),
      f16Tensor(`blk.${l}.ffn_down.weight`, [nFf, nEmbd], weight(1 / Math.sqrt(nFf))),
    );
  }
  return encodeGguf(metadata, tensors);
}
