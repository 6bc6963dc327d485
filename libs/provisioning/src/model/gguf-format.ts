/** GGUF constants (version 3), as llama.cpp reads them. */
export const GGUF_MAGIC = 0x46554747; // "GGUF", little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeId = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Byte size of each fixed-size scalar type (STRING and ARRAY are length-prefixed). */
export const GGUF_SCALAR_SIZE: Readonly<Record<number, number>> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

/** ggml tensor types used here. */
export const GgmlType = { F32: 0, F16: 1 } as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];

export type GgufScalar = number | bigint | boolean | string;
/** A metadata value with its exact GGUF type, so that a read file can be written back unchanged. */
export type GgufValue =
  | { readonly type: Exclude<GgufValueTypeId, 9>; readonly value: GgufScalar }
  | { readonly type: 9; readonly itemType: Exclude<GgufValueTypeId, 9>; readonly items: readonly GgufScalar[] };

export interface GgufTensorInfo {
  readonly name: string;
  /** ne0 first (the innermost, contiguous dimension). */
  readonly dims: readonly number[];
  readonly type: GgmlTypeId;
}
