import { open } from 'node:fs/promises';
import {
  GGUF_MAGIC,
  GGUF_SCALAR_SIZE,
  GgufValueType,
  type GgufScalar,
  type GgufValue,
  type GgufValueTypeId,
} from './gguf-format.ts';

export interface GgufHeader {
  readonly version: number;
  readonly tensorCount: bigint;
  readonly metadata: ReadonlyMap<string, GgufValue>;
}

export type GgufCheck =
  { readonly ok: true; readonly version: number } | { readonly ok: false; readonly message: string };

/** Check that a file is a GGUF model (magic and a version llama.cpp reads) without reading it whole. */
export async function checkGgufFile(path: string): Promise<GgufCheck> {
  let head: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      head = Buffer.alloc(8);
      const { bytesRead } = await file.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (error) {
    return { ok: false, message: `${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  if (head.length < 8 || head.readUInt32LE(0) !== GGUF_MAGIC) {
    const what = head
      .subarray(0, 4)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '.');
    return { ok: false, message: `${path} is not a GGUF model (starts with "${what}", expected "GGUF")` };
  }
  const version = head.readUInt32LE(4);
  if (version < 2 || version > 3) {
    return { ok: false, message: `${path} is GGUF version ${version}; llama.cpp reads versions 2 and 3` };
  }
  return { ok: true, version };
}

class Cursor {
  offset = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64LE(this.offset);
    this.offset += 8;
    return v;
  }
  string(): string {
    const length = Number(this.u64());
    // toString would stop quietly at the end; a header cut short must say so (readGgufFileHeader reads on).
    if (this.offset + length > this.buf.length) throw new RangeError('GGUF string runs past the end of the buffer');
    const v = this.buf.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
  scalar(type: Exclude<GgufValueTypeId, 9>): GgufScalar {
    const b = this.buf;
    const at = this.offset;
    if (type === GgufValueType.STRING) return this.string();
    this.offset += GGUF_SCALAR_SIZE[type] ?? 0;
    switch (type) {
      case GgufValueType.UINT8:
        return b.readUInt8(at);
      case GgufValueType.INT8:
        return b.readInt8(at);
      case GgufValueType.UINT16:
        return b.readUInt16LE(at);
      case GgufValueType.INT16:
        return b.readInt16LE(at);
      case GgufValueType.UINT32:
        return b.readUInt32LE(at);
      case GgufValueType.INT32:
        return b.readInt32LE(at);
      case GgufValueType.FLOAT32:
        return b.readFloatLE(at);
      case GgufValueType.BOOL:
        return b.readUInt8(at) !== 0;
      case GgufValueType.UINT64:
        return b.readBigUInt64LE(at);
      case GgufValueType.INT64:
        return b.readBigInt64LE(at);
      case GgufValueType.FLOAT64:
        return b.readDoubleLE(at);
    }
  }
}

/** Parse the header and metadata of a GGUF buffer (tensor infos and data are not needed here). */
export function readGgufHeader(buf: Buffer): GgufHeader {
  const c = new Cursor(buf);
  if (c.u32() !== GGUF_MAGIC) throw new Error('not a GGUF buffer');
  const version = c.u32();
  const tensorCount = c.u64();
  const kvCount = Number(c.u64());
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i += 1) {
    const key = c.string();
    const type = c.u32() as GgufValueTypeId;
    if (type === GgufValueType.ARRAY) {
      const itemType = c.u32() as Exclude<GgufValueTypeId, 9>;
      const count = Number(c.u64());
      const items: GgufScalar[] = new Array<GgufScalar>(count);
      for (let j = 0; j < count; j += 1) items[j] = c.scalar(itemType);
      metadata.set(key, { type, itemType, items });
    } else {
      metadata.set(key, { type, value: c.scalar(type) });
    }
  }
  return { version, tensorCount, metadata };
}
