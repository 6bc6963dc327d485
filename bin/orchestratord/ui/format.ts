/** Short human forms of the numbers the page shows. */

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  if (value < 1_000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(value / 60_000);
  return `${minutes} min ${Math.round((value % 60_000) / 1_000)} s`;
}

export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = value;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return `${n.toFixed(unit === 0 ? 0 : 1)} ${units[unit] ?? 'B'}`;
}

export function rate(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return value >= 100 ? Math.round(value).toString() : value.toFixed(1);
}

/** A 0..100 percentage, for a bar's width. */
export function percent(part: number, whole: number): number {
  return whole <= 0 ? 0 : Math.min(100, Math.max(0, (part / whole) * 100));
}
