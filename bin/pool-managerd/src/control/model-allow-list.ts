import { resolve } from 'node:path';
import { parseModelRef } from '@llama-orch/contracts';

/**
 * The model references a client may name over the API (reload's `model_ref`). pool-managerd is the one that fetches
 * and reads models, so it is the one that refuses: a reference outside the list is never fetched, opened or stat'ed.
 *
 * Entries are model references (`demo`, `file:/models/a.gguf`, `hf:org/repo/file.gguf`, `https://host/a.gguf`) or
 * prefixes ending in `/*` (`file:/models/*`, `hf:org/*`, `https://models.example.com/gguf/*`), or `*` for any
 * reference (HOME's default, where the caller is the machine's own user). References are
 * compared in normal form (file paths resolved, URLs parsed), so `..` and `%2e%2e` do not step out of a prefix.
 */
export class ModelAllowList {
  readonly #exact: ReadonlySet<string>;
  readonly #prefixes: readonly string[];
  readonly #any: boolean;

  /** `entries` must have passed `allowEntryProblem`. */
  constructor(entries: readonly string[]) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    for (const entry of entries) {
      if (entry === '*') continue;
      if (entry.endsWith('/*')) prefixes.push(normalPrefix(entry.slice(0, -1)));
      else {
        const normal = normalRef(entry);
        if (normal !== null) exact.add(normal);
      }
    }
    this.#exact = exact;
    this.#prefixes = prefixes;
    this.#any = entries.includes('*');
  }

  permits(ref: string): boolean {
    const normal = normalRef(ref);
    if (normal === null) return false;
    return this.#any || this.#exact.has(normal) || this.#prefixes.some((prefix) => normal.startsWith(prefix));
  }
}

/** A reference in the form it is compared in; null when it is not a model reference at all. */
function normalRef(ref: string): string | null {
  const parsed = parseModelRef(ref);
  if (!parsed.ok) return null;
  const model = parsed.value;
  switch (model.kind) {
    case 'demo':
      return 'demo';
    case 'file':
      return `file:${resolve('/', model.path)}`;
    case 'hf':
      return `hf:${model.org}/${model.repo}/${model.file}`;
    case 'https':
      return new URL(model.url).href;
  }
}

/** A prefix entry (without its `*`, ending in `/`) in the same normal form. */
function normalPrefix(prefix: string): string {
  if (prefix.startsWith('file:')) return `file:${resolve('/', prefix.slice('file:'.length))}/`.replace(/\/+$/, '/');
  if (prefix.startsWith('https://')) return new URL(prefix).href;
  return prefix;
}

/** Why an allow-list entry is not one, or null; the message names the entry (operator config, not a secret). */
export function allowEntryProblem(entry: string): string | null {
  if (entry === '*') return null;
  if (!entry.endsWith('/*')) {
    const parsed = parseModelRef(entry);
    return parsed.ok ? null : `${entry}: ${parsed.message}`;
  }
  const prefix = entry.slice(0, -1);
  if (prefix.startsWith('file:/') && !prefix.split('/').includes('..')) return null;
  if (/^hf:[A-Za-z0-9][\w.-]*\/([A-Za-z0-9][\w.-]*\/)?$/.test(prefix)) return null;
  if (prefix.startsWith('https://') && URL.canParse(prefix) && new URL(prefix).pathname.endsWith('/')) return null;
  return `${entry}: a prefix is file:/<dir>/*, hf:<org>/* or hf:<org>/<repo>/*, or https://<host>/<path>/*`;
}
