import { z } from 'zod';
import { named } from './registry.ts';

/** Where a pool's model comes from. */
export type ModelRef =
  | { readonly kind: 'demo' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'hf'; readonly org: string; readonly repo: string; readonly file: string }
  | { readonly kind: 'https'; readonly url: string };

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const HF_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function parseModelRef(ref: string): Parsed<ModelRef> {
  if (ref === 'demo') return { ok: true, value: { kind: 'demo' } };
  if (ref.startsWith('file:')) {
    const path = ref.slice('file:'.length);
    if (path === '') return { ok: false, message: 'file: needs a path, e.g. file:/models/qwen.gguf' };
    return { ok: true, value: { kind: 'file', path } };
  }
  if (ref.startsWith('hf:')) {
    const [org, repo, ...rest] = ref.slice('hf:'.length).split('/');
    const file = rest.join('/');
    const partsOk = org !== undefined && repo !== undefined && HF_PART.test(org) && HF_PART.test(repo);
    if (!partsOk || !file.toLowerCase().endsWith('.gguf') || rest.some((p) => p === '' || p === '..')) {
      return {
        ok: false,
        message:
          'hf: must be hf:<org>/<repo>/<file.gguf>, e.g. hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf',
      };
    }
    return { ok: true, value: { kind: 'hf', org, repo, file } };
  }
  if (ref.startsWith('https://')) {
    if (!URL.canParse(ref)) return { ok: false, message: `not a valid URL: ${ref}` };
    return { ok: true, value: { kind: 'https', url: ref } };
  }
  return { ok: false, message: 'must be "demo", file:<path>, hf:<org>/<repo>/<file.gguf> or https://…' };
}

export const ModelRefSchema = named(
  z.string().superRefine((ref, ctx) => {
    const parsed = parseModelRef(ref);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
  }),
  'ModelRef',
  'A model: "demo", file:<path>, hf:<org>/<repo>/<file.gguf> or https://….',
);

export const Sha256Schema = named(
  z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters'),
  'Sha256',
  'SHA-256 digest, lower-case hex.',
);
