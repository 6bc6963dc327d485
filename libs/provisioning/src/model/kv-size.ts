/**
 * The KV cache of llama-server, from a GGUF model's header: every layer keeps a key and a value vector per KV head and
 * token, in f16 (llama-server's default cache type) unless other cache types are given; the cells are the engine's
 * padded context (kvCacheCells). For a session's KV size and the memory estimate (memory-estimate.ts); never a guess
 * when the header lacks the figures (null).
 */
import type { GgufValue } from './gguf-format.ts';
import type { GgufHeader } from './gguf-reader.ts';
import { ggmlTensorBytes } from './ggml-types.ts';

/** llama-server's default KV cache type (f16, ggml type 1): two bytes per element. */
const F16 = 1;
/** llama.cpp pads the context, and each sequence's share of it, to a multiple of this (llama-context.cpp). */
const CTX_PAD = 256;

/** The ggml types of the KV cache (llama-server's `--cache-type-k` / `--cache-type-v`); absent: f16. */
export interface KvCacheTypes {
  readonly k?: number;
  readonly v?: number;
}

const numberOf = (value: GgufValue | undefined): number | null =>
  value !== undefined && value.type !== 9 && typeof value.value !== 'string' && typeof value.value !== 'boolean'
    ? Number(value.value)
    : null;

/** Per layer: a number, or an array with one entry per layer (models whose layers differ). */
function perLayer(value: GgufValue | undefined, layers: number): number[] | null {
  if (value === undefined) return null;
  if (value.type === 9) return value.items.length === layers ? value.items.map(Number) : null;
  const n = numberOf(value);
  return n === null ? null : Array.from({ length: layers }, () => n);
}

/**
 * Bytes of KV cache per token of context (f16 unless `types` says otherwise); null when the header does not say
 * enough to know, or a cache type's blocks do not divide a layer's key or value row.
 */
export function kvBytesPerToken(header: GgufHeader, types: KvCacheTypes = {}): number | null {
  const meta = header.metadata;
  const arch = meta.get('general.architecture');
  if (arch === undefined || arch.type === 9 || typeof arch.value !== 'string') return null;
  const key = (name: string): GgufValue | undefined => meta.get(`${arch.value}.${name}`);
  const layers = numberOf(key('block_count'));
  const embedding = numberOf(key('embedding_length'));
  if (layers === null || embedding === null || layers <= 0) return null;
  const heads = perLayer(key('attention.head_count'), layers);
  const kvHeads = perLayer(key('attention.head_count_kv'), layers) ?? heads;
  if (heads === null || kvHeads === null) return null;
  let bytes = 0;
  for (let l = 0; l < layers; l += 1) {
    const h = heads[l] ?? 0;
    const headDim = h > 0 ? embedding / h : 0;
    const keyLength = numberOf(key('attention.key_length')) ?? headDim;
    const valueLength = numberOf(key('attention.value_length')) ?? headDim;
    const n = kvHeads[l] ?? 0;
    if (n === 0) continue;
    const k = ggmlTensorBytes(types.k ?? F16, [keyLength * n]);
    const v = ggmlTensorBytes(types.v ?? F16, [valueLength * n]);
    if (k === null || v === null) return null;
    bytes += k + v;
  }
  return bytes > 0 ? Math.round(bytes) : null;
}

/**
 * The KV cells llama-server allocates for `slots` sequences of `ctx` tokens each (it is started with
 * `-c ctx×slots -np slots`): the context is padded to 256, split per sequence (llama-server's cache is not
 * unified), and each share padded to 256 again (llama-context.cpp).
 */
export function kvCacheCells(ctx: number, slots: number): number {
  const pad = (n: number): number => Math.ceil(n / CTX_PAD) * CTX_PAD;
  return pad(pad(ctx * slots) / slots) * slots;
}

/** Bytes of the whole KV cache of an engine with `slots` slots of `ctx` tokens; null when unknown. */
export function kvCacheBytes(header: GgufHeader, ctx: number, slots: number, types: KvCacheTypes = {}): number | null {
  const perToken = kvBytesPerToken(header, types);
  return perToken === null ? null : perToken * kvCacheCells(ctx, slots);
}
