import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level: two requests that differ only in key order are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * What makes a submission the same request: who sent it and what it asked (the validated body, defaults filled in),
 * as a sha256 of canonical JSON. The same task_id with another hash is another request (409).
 */
export function requestHash(owner: string, route: string, body: unknown): string {
  return createHash('sha256')
    .update(canonical([owner, route, body]))
    .digest('hex');
}
