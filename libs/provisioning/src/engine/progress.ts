/** Percent done from one line of CMake build output: Ninja's "[12/210]" or Make's "[ 45%]". */
export function buildPercent(line: string): number | null {
  const ninja = /^\[(\d+)\/(\d+)\]/.exec(line);
  if (ninja) {
    const done = Number(ninja[1]);
    const total = Number(ninja[2]);
    return total > 0 ? Math.floor((done * 100) / total) : null;
  }
  const make = /^\[\s*(\d+)%\]/.exec(line);
  return make ? Number(make[1]) : null;
}
