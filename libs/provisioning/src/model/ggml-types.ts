/**
 * ggml's tensor types and their storage: a row of `ne0` elements takes `ne0 / blockSize` blocks of `typeSize` bytes.
 * Copied from llama.cpp's own table, not worked out by hand: printed by `ggml_type_name`, `ggml_blck_size` and
 * `ggml_type_size` of libggml-base built from the pinned source (llama.cpp de3ff81, bundled in node-llama-cpp 3.22.1;
 * ggml/src/ggml.c `type_traits`, block structs in ggml-common.h). Ids missing here were removed from ggml (4, 5,
 * 31–33, 36–38); a file naming one, or an id newer than this table, is not counted (the estimate says unknown).
 */
export interface GgmlTypeSize {
  readonly name: string;
  /** Elements per block (1 for plain types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const t = (name: string, blockSize: number, typeSize: number): GgmlTypeSize => ({ name, blockSize, typeSize });

export const GGML_TYPE_SIZES: ReadonlyMap<number, GgmlTypeSize> = new Map([
  [0, t('f32', 1, 4)],
  [1, t('f16', 1, 2)],
  [2, t('q4_0', 32, 18)],
  [3, t('q4_1', 32, 20)],
  [6, t('q5_0', 32, 22)],
  [7, t('q5_1', 32, 24)],
  [8, t('q8_0', 32, 34)],
  [9, t('q8_1', 32, 36)],
  [10, t('q2_K', 256, 84)],
  [11, t('q3_K', 256, 110)],
  [12, t('q4_K', 256, 144)],
  [13, t('q5_K', 256, 176)],
  [14, t('q6_K', 256, 210)],
  [15, t('q8_K', 256, 292)],
  [16, t('iq2_xxs', 256, 66)],
  [17, t('iq2_xs', 256, 74)],
  [18, t('iq3_xxs', 256, 98)],
  [19, t('iq1_s', 256, 50)],
  [20, t('iq4_nl', 32, 18)],
  [21, t('iq3_s', 256, 110)],
  [22, t('iq2_s', 256, 82)],
  [23, t('iq4_xs', 256, 136)],
  [24, t('i8', 1, 1)],
  [25, t('i16', 1, 2)],
  [26, t('i32', 1, 4)],
  [27, t('i64', 1, 8)],
  [28, t('f64', 1, 8)],
  [29, t('iq1_m', 256, 56)],
  [30, t('bf16', 1, 2)],
  [34, t('tq1_0', 256, 54)],
  [35, t('tq2_0', 256, 66)],
  [39, t('mxfp4', 32, 17)],
  [40, t('nvfp4', 64, 36)],
  [41, t('q1_0', 128, 18)],
  [42, t('q2_0', 64, 18)],
]);

/**
 * Bytes of a tensor as ggml stores it (ggml_nbytes of a contiguous tensor): the rows of `dims[0]` elements are
 * whole blocks. Null for a type this table does not know or a row that is not a whole number of blocks (ggml
 * refuses to load such a file).
 */
export function ggmlTensorBytes(type: number, dims: readonly number[]): number | null {
  const size = GGML_TYPE_SIZES.get(type);
  const [row = 1, ...rest] = dims;
  if (size === undefined || row % size.blockSize !== 0) return null;
  return rest.reduce((bytes, dim) => bytes * dim, (row / size.blockSize) * size.typeSize);
}
