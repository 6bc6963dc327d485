import type { PoolKind } from '@llama-orch/contracts';
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
  /**
   * What the model is for (absent: completion). `embedding`: the same llama model, declaring mean pooling.
   * `rerank`: the qwen3 architecture (llama's blocks plus per-head q/k norms), whose loader takes a classification
   * head: `cls.output.weight` with two labels (yes, no) and rank pooling, as llama-server's `--reranking` needs.
   */
  readonly kind?: PoolKind;
}

export const DEMO_MODEL_DEFAULTS: DemoModelOptions = {
  seed: 42,
  embedding: 64,
  layers: 2,
  heads: 4,
  feedForward: 128,
  // llama-server caps each slot's context at the model's: a pool's `ctx` must be what it gets, long tasks included.
  contextLength: 131_072,
};

/** Bumped whenever the demo model's bytes change, so caches of an older one are not reused. */
export const DEMO_MODEL_VERSION = 'v4';
/** From llama.cpp's source tree: a byte-level BPE vocabulary (any text tokenizes, no leading-space surprise for grammars) and a chat template that describes tools. */
export const DEMO_VOCABULARY = 'ggml-vocab-gpt-2.gguf';
export const DEMO_CHAT_TEMPLATE = 'Qwen-Qwen2.5-7B-Instruct.jinja';

/** The classification labels of the demo reranker (as Qwen3's rerankers name theirs); the score is the first's. */
const RERANK_LABELS = ['yes', 'no'] as const;

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
const strings = (items: readonly string[]): GgufValue => ({
  type: GgufValueType.ARRAY,
  itemType: GgufValueType.STRING,
  items,
});
/** llama.cpp's enum llama_pooling_type. */
const POOLING_MEAN = 1;
const POOLING_RANK = 4;
const f32 = (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value });
const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });

/**
 * What the demo model says, over and over: each token of this text is followed by the next (the last by the first).
 * A chat prompt ends with a newline, so a plain answer reads "Hello from the demo model." and then the chat
 * template's tool-call marker — enough for a person to see it works, and the marker lets the engine's tool-call
 * grammar take over when a request has tools. Printable ASCII and newlines only; no token may occur twice.
 */
const CYCLE = '\nHello from the demo model.\n\n<tool_call>';

/** llama.cpp's byte-level BPE spelling of printable ASCII text: a space is Ġ, a newline Ċ. */
const bpeSpelling = (text: string): string => text.replaceAll(' ', '\u0120').replaceAll('\n', '\u010a');

/** The cycle as tokens of the vocabulary, longest match first; null when a piece has no token. */
function cycleTokens(idOf: ReadonlyMap<string, number>): number[] | null {
  const spelled = bpeSpelling(CYCLE);
  const ids: number[] = [];
  for (let at = 0; at < spelled.length;) {
    let end = spelled.length;
    while (end > at && !idOf.has(spelled.slice(at, end))) end -= 1;
    if (end === at) return null;
    ids.push(idOf.get(spelled.slice(at, end)) as number);
    at = end;
  }
  return new Set(ids).size === ids.length ? ids : null;
}

/**
 * Where the chain has no next token, or the engine's grammar forbids it, these win in this order: a JSON string
 * closes at once, an object closes, opens, gets its colon, and the answer ends. So grammar-constrained sampling
 * (`response_format`, `tool_choice: "required"`) finishes with a short valid value instead of wandering.
 */
const FALLBACKS: readonly string[] = ['"', '}', '{', ':'];

/** Output weights of the chain's next tokens, of the fallbacks (the first), and of anything else. */
const CHAIN_WEIGHT = 6;
const FALLBACK_WEIGHT = 5;
const NOISE = 0.1;

/**
 * Build the demo GGUF: llama architecture with the tokenizer of `vocabGguf` (llama.cpp's
 * models/ggml-vocab-gpt-2.gguf) and `chatTemplate` (a tool-capable template from llama.cpp's models/templates).
 * The weights are random from the seed except for two things written on purpose, so that grammars and tool calls
 * work from a model that was never trained: the embedding of every token shares one direction (dimension 0),
 * which the output weights of the fallback tokens point at; and each token of `CYCLE` has a dimension of its own,
 * which the output row of its next token points at. The transformer blocks are random and small, so the output
 * follows the embedding of the last token. A vocabulary that cannot spell the cycle gets random output weights only. About 15 MB; loads in
 * llama-server.
 */
export function buildDemoModel(
  vocabGguf: Buffer,
  chatTemplate: string | null = null,
  options: DemoModelOptions = DEMO_MODEL_DEFAULTS,
): Buffer {
  const vocab = readGgufHeader(vocabGguf);
  const tokens = vocab.metadata.get('tokenizer.ggml.tokens');
  if (tokens?.type !== GgufValueType.ARRAY) throw new Error('vocabulary file has no tokenizer.ggml.tokens');
  const nVocab = tokens.items.length;
  const { embedding: nEmbd, layers, heads, feedForward: nFf } = options;
  const headDim = nEmbd / heads;
  const kind = options.kind ?? 'completion';
  const arch = kind === 'rerank' ? 'qwen3' : 'llama';
  const what = kind === 'completion' ? 'demo' : `demo ${kind}`;

  const metadata = new Map<string, GgufValue>([
    ['general.architecture', str(arch)],
    ['general.name', str(`llama-orch ${what} (seed ${options.seed})`)],
    ['general.file_type', u32(1)],
    [`${arch}.context_length`, u32(options.contextLength)],
    [`${arch}.embedding_length`, u32(nEmbd)],
    [`${arch}.block_count`, u32(layers)],
    [`${arch}.feed_forward_length`, u32(nFf)],
    [`${arch}.attention.head_count`, u32(heads)],
    [`${arch}.attention.head_count_kv`, u32(heads)],
    [`${arch}.rope.dimension_count`, u32(headDim)],
    [`${arch}.rope.freq_base`, f32(10000)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(1e-5)],
    [`${arch}.vocab_size`, u32(nVocab)],
  ]);
  if (kind === 'embedding') metadata.set(`${arch}.pooling_type`, u32(POOLING_MEAN));
  if (kind === 'rerank') {
    metadata.set(`${arch}.pooling_type`, u32(POOLING_RANK));
    metadata.set(`${arch}.classifier.output_labels`, strings(RERANK_LABELS));
  }
  for (const [key, value] of vocab.metadata) if (key.startsWith('tokenizer.')) metadata.set(key, value);
  if (chatTemplate !== null) metadata.set('tokenizer.chat_template', str(chatTemplate));

  const idOf = new Map<string, number>();
  tokens.items.forEach((token, id) => {
    if (typeof token === 'string' && !idOf.has(token)) idOf.set(token, id);
  });
  const eos = vocab.metadata.get('tokenizer.ggml.eos_token_id');
  const cycle = cycleTokens(idOf) ?? [];
  const chain = cycle.map((from, i) => [from, cycle[(i + 1) % cycle.length] as number] as const).slice(0, nEmbd / 2);
  const fallbacks: number[] = [
    ...FALLBACKS.flatMap((token) => idOf.get(token) ?? []),
    ...(eos?.type === GgufValueType.UINT32 ? [Number(eos.value)] : []),
  ];

  const random = prng(options.seed);
  const uniform = (scale: number): number => (random() * 2 - 1) * scale;
  // Dimension 0: shared by every token. 1..chain.length: one per chain token. The rest: small noise.
  const firstNoise = 1 + chain.length;
  const embd = new Float32Array(nVocab * nEmbd);
  const out = new Float32Array(nVocab * nEmbd);
  for (let v = 0; v < nVocab; v += 1) {
    embd[v * nEmbd] = 1;
    for (let d = firstNoise; d < nEmbd; d += 1) {
      embd[v * nEmbd + d] = uniform(0.1);
      out[v * nEmbd + d] = uniform(NOISE);
    }
  }
  chain.forEach(([from, to], k) => {
    embd.fill(0, from * nEmbd, (from + 1) * nEmbd);
    embd[from * nEmbd] = 0.5;
    embd[from * nEmbd + 1 + k] = 1;
    out[to * nEmbd + 1 + k] = CHAIN_WEIGHT;
  });
  fallbacks.forEach((token, rank) => {
    out[token * nEmbd] = FALLBACK_WEIGHT - rank;
  });

  const weight = (scale: number) => () => uniform(scale);
  const ones = () => 1;
  const linear = 1 / Math.sqrt(nEmbd);
  // Blocks write little back into the residual stream, so the last token's embedding decides the next token.
  const quiet = 0.05;
  const tensors: GgufTensor[] = [
    f16Tensor('token_embd.weight', [nEmbd, nVocab], (i) => embd[i] ?? 0),
    f32Tensor('output_norm.weight', [nEmbd], ones),
    f16Tensor('output.weight', [nEmbd, nVocab], (i) => out[i] ?? 0),
  ];
  for (let l = 0; l < layers; l += 1) {
    tensors.push(
      f32Tensor(`blk.${l}.attn_norm.weight`, [nEmbd], ones),
      f16Tensor(`blk.${l}.attn_q.weight`, [nEmbd, nEmbd], weight(linear)),
      f16Tensor(`blk.${l}.attn_k.weight`, [nEmbd, nEmbd], weight(linear)),
      f16Tensor(`blk.${l}.attn_v.weight`, [nEmbd, nEmbd], weight(linear)),
      f16Tensor(`blk.${l}.attn_output.weight`, [nEmbd, nEmbd], weight(linear * quiet)),
      f32Tensor(`blk.${l}.ffn_norm.weight`, [nEmbd], ones),
      f16Tensor(`blk.${l}.ffn_gate.weight`, [nEmbd, nFf], weight(linear)),
      f16Tensor(`blk.${l}.ffn_up.weight`, [nEmbd, nFf], weight(linear)),
      f16Tensor(`blk.${l}.ffn_down.weight`, [nFf, nEmbd], weight(quiet / Math.sqrt(nFf))),
    );
    if (arch === 'qwen3')
      tensors.push(
        f32Tensor(`blk.${l}.attn_q_norm.weight`, [headDim], ones),
        f32Tensor(`blk.${l}.attn_k_norm.weight`, [headDim], ones),
      );
  }
  // The reranker's head: the last token's state → one logit per label; the score is the softmax of "yes".
  if (kind === 'rerank') tensors.push(f32Tensor('cls.output.weight', [nEmbd, RERANK_LABELS.length], weight(1)));
  return encodeGguf(metadata, tensors);
}
