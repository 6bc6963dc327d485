/**
 * How many bytes of KV cache one token of context takes in llama-server, from a GGUF model's header: every layer
 * keeps a key and a value vector per KV head, in f16 (llama-server's default cache type). For a session's KV size and,
 * later, residency estimates; never a guess when the header lacks the figures (null).
 */
import { open } from 'node:fs/promises';
import type { GgufValue } from './gguf-format.ts';
import { readGgufHeader, type GgufHeader } from './gguf-reader.ts';

/** llama-server's default KV cache type (f16): two bytes per element. */
const CACHE_ELEMENT_BYTES = 2;
const FIRST_READ_BYTES = 1 << 20;
/** A header past this is not read (vocabularies of a few hundred thousand tokens take a few MB). */
const MAX_HEADER_BYTES = 64 << 20;

/** The header of a GGUF file, reading only as much of it as the metadata takes. */
export async function readGgufFileHeader(path: string): Promise<GgufHeader> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    for (let length = FIRST_READ_BYTES; ; length *= 4) {
      const want = Math.min(length, size, MAX_HEADER_BYTES);
      const buf = Buffer.alloc(want);
      const { bytesRead } = await file.read(buf, 0, want, 0);
      try {
        return readGgufHeader(buf.subarray(0, bytesRead));
      } catch (error) {
        // A header longer than what was read runs off the buffer: read more, up to the whole file or the cap.
        if (!(error instanceof RangeError) || want >= size || want >= MAX_HEADER_BYTES) throw error;
      }
    }
  } finally {
    await file.close();
  }
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

/** Bytes of f16 KV cache per token of context; null when the header does not say enough to know. */
export function kvBytesPerToken(header: GgufHeader): number | null {
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
  let elements = 0;
  for (let l = 0; l < layers; l += 1) {
    const h = heads[l] ?? 0;
    const headDim = h > 0 ? embedding / h : 0;
    const keyLength = numberOf(key('attention.key_length')) ?? headDim;
    const valueLength = numberOf(key('attention.value_length')) ?? headDim;
    elements += (kvHeads[l] ?? 0) * (keyLength + valueLength);
  }
  return elements > 0 ? Math.round(elements * CACHE_ELEMENT_BYTES) : null;
}
