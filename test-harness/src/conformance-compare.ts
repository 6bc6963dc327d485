/**
 * Structural comparison of an engine's answer with the same answer relayed by orchestratord: the same keys and
 * JSON types everywhere, the same values except where the orchestrator rewrites them or the engine varies them
 * from one request to the next (ids, clocks, the model name, timings, prompt-cache counters).
 */

export type JsonPath = readonly (string | number)[];

/** Keys whose values differ between two runs of one request, or that orchestratord rewrites: compared by type. */
const VOLATILE_KEYS = new Set([
  'created',
  'created_at',
  'completed_at',
  'model',
  'timings',
  'system_fingerprint',
  'cached_tokens',
  'cache_read_input_tokens',
  'call_id',
  'item_id',
  'tool_use_id',
]);

/**
 * Whether the value at `path` may differ between the engine's answer and the relayed one. An `id` is volatile
 * (response, chunk, tool call, message item ids) except inside `logprobs`, where it is the token's id.
 */
export function isVolatile(path: JsonPath): boolean {
  const key = path.at(-1);
  if (typeof key !== 'string') return false;
  if (VOLATILE_KEYS.has(key)) return true;
  return key === 'id' && !path.includes('logprobs');
}

/** Logprobs computed with and without a warm prompt cache differ in the last digits. */
const FLOAT_TOLERANCE = 1e-2;

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function show(path: JsonPath): string {
  return path.length === 0 ? '(root)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

function brief(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function sameNumber(a: number, b: number): boolean {
  if (Number.isInteger(a) && Number.isInteger(b)) return a === b;
  return Math.abs(a - b) <= FLOAT_TOLERANCE;
}

function diffAt(direct: unknown, relayed: unknown, path: JsonPath, out: string[]): void {
  const kind = kindOf(direct);
  if (kind !== kindOf(relayed)) {
    out.push(`${show(path)}: engine sent ${kind} ${brief(direct)}, relayed ${kindOf(relayed)} ${brief(relayed)}`);
    return;
  }
  if (isVolatile(path)) return;
  if (Array.isArray(direct) && Array.isArray(relayed)) {
    if (direct.length !== relayed.length)
      out.push(`${show(path)}: engine sent ${direct.length} items, relayed ${relayed.length}`);
    for (let i = 0; i < Math.min(direct.length, relayed.length); i += 1)
      diffAt(direct[i], relayed[i], [...path, i], out);
    return;
  }
  if (kind === 'object') {
    const a = direct as Record<string, unknown>;
    const b = relayed as Record<string, unknown>;
    for (const key of Object.keys(a))
      if (!(key in b)) out.push(`${show([...path, key])}: engine sent ${brief(a[key])}, relayed nothing`);
    for (const key of Object.keys(b))
      if (!(key in a)) out.push(`${show([...path, key])}: relayed ${brief(b[key])}, engine sent nothing`);
    for (const key of Object.keys(a)) if (key in b) diffAt(a[key], b[key], [...path, key], out);
    return;
  }
  const same = kind === 'number' ? sameNumber(direct as number, relayed as number) : direct === relayed;
  if (!same) out.push(`${show(path)}: engine sent ${brief(direct)}, relayed ${brief(relayed)}`);
}

/** The differences between the engine's JSON and the relayed JSON, one line each; none when they conform. */
export function structuralDiff(direct: unknown, relayed: unknown): string[] {
  const out: string[] = [];
  diffAt(direct, relayed, [], out);
  return out;
}

/** The same for two streams: the same number of chunks, each chunk conforming to the engine's chunk. */
export function streamDiff(direct: readonly unknown[], relayed: readonly unknown[]): string[] {
  const out: string[] = [];
  if (direct.length !== relayed.length)
    out.push(`engine sent ${direct.length} chunks, relayed ${relayed.length}: ${chunkShapes(relayed)}`);
  for (let i = 0; i < Math.min(direct.length, relayed.length); i += 1) diffAt(direct[i], relayed[i], [i], out);
  return out;
}

/** A one-line picture of a stream for failure messages: `role, content×8, tool_calls×9, finish:tool_calls, usage`. */
export function chunkShapes(chunks: readonly unknown[]): string {
  const runs: { name: string; count: number }[] = [];
  for (const chunk of chunks) {
    const name = chunkShape(chunk);
    const last = runs.at(-1);
    if (last?.name === name) last.count += 1;
    else runs.push({ name, count: 1 });
  }
  return runs.map((r) => (r.count > 1 ? `${r.name}×${r.count}` : r.name)).join(', ') || 'no chunk';
}

function chunkShape(chunk: unknown): string {
  if (typeof chunk !== 'object' || chunk === null) return kindOf(chunk);
  const c = chunk as { choices?: unknown[]; usage?: unknown; error?: unknown };
  if (c.error !== undefined) return 'error';
  const choice = c.choices?.[0] as { delta?: Record<string, unknown>; finish_reason?: unknown } | undefined;
  if (choice === undefined) return c.usage ? 'usage' : 'empty';
  if (typeof choice.finish_reason === 'string') return `finish:${choice.finish_reason}`;
  const fields = Object.keys(choice.delta ?? choice).filter((k) => k !== 'index' && k !== 'finish_reason');
  return fields.join('+') || 'empty';
}
