import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_SCALAR_SIZE,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgufValueType,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueTypeId,
} from './gguf-format.ts';

export interface GgufTensor extends GgufTensorInfo {
  /** Raw little-endian bytes of the tensor, ne0 fastest. */
  readonly data: Buffer;
}

class Out {
  private readonly parts: Buffer[] = [];
  length = 0;
  push(buf: Buffer): void {
    this.parts.push(buf);
    this.length += buf.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  pad(alignment: number): void {
    const rest = this.length % alignment;
    if (rest !== 0) this.push(Buffer.alloc(alignment - rest));
  }
  scalar(type: Exclude<GgufValueTypeId, 9>, value: GgufScalar): void {
    if (type === GgufValueType.STRING) return this.string(String(value));
    const b = Buffer.alloc(GGUF_SCALAR_SIZE[type] ?? 0);
    switch (type) {
      case GgufValueType.UINT8:
        b.writeUInt8(Number(value));
        break;
      case GgufValueType.INT8:
        b.writeInt8(Number(value));
        break;
      case GgufValueType.UINT16:
        b.writeUInt16LE(Number(value));
        break;
      case GgufValueType.INT16:
        b.writeInt16LE(Number(value));
        break;
      case GgufValueType.UINT32:
        b.writeUInt32LE(Number(value));
        break;
      case GgufValueType.INT32:
        b.writeInt32LE(Number(value));
        break;
      case GgufValueType.FLOAT32:
        b.writeFloatLE(Number(value));
        break;
      case GgufValueType.BOOL:
        b.writeUInt8(value === true ? 1 : 0);
        break;
      case GgufValueType.UINT64:
        b.writeBigUInt64LE(BigInt(value));
        break;
      case GgufValueType.INT64:
        b.writeBigInt64LE(BigInt(value));
        break;
      case GgufValueType.FLOAT64:
        b.writeDoubleLE(Number(value));
        break;
    }
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

/** Serialise a GGUF v3 file: header, metadata, tensor infos, then aligned tensor data. */
export function encodeGguf(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensor[]): Buffer {
  const alignmentValue = metadata.get('general.alignment');
  const alignment =
    alignmentValue?.type === GgufValueType.UINT32 ? Number(alignmentValue.value) : GGUF_DEFAULT_ALIGNMENT;
  const out = new Out();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.size);
  for (const [key, value] of metadata) {
    out.string(key);
    out.u32(value.type);
    if (value.type === GgufValueType.ARRAY) {
      out.u32(value.itemType);
      out.u64(value.items.length);
      for (const item of value.items) out.scalar(value.itemType, item);
    } else {
      out.scalar(value.type, value.value);
    }
  }
  let offset = 0;
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(tensor.type);
    out.u64(offset);
    offset += Math.ceil(tensor.data.length / alignment) * alignment;
  }
  out.pad(alignment);
  for (const tensor of tensors) {
    out.push(tensor.data);
    out.pad(alignment);
  }
  return out.concat();
}
