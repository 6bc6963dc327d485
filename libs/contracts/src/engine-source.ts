import { z } from 'zod';
import type { Parsed } from './model-ref.ts';
import { named } from './registry.ts';

/** Where llama.cpp comes from. */
export type EngineSource =
  | { readonly kind: 'npm'; readonly package: 'node-llama-cpp'; readonly version: string }
  | { readonly kind: 'git'; readonly url: string; readonly ref: string }
  | { readonly kind: 'path'; readonly dir: string }
  | { readonly kind: 'binary'; readonly path: string };

/** The pinned default: the llama.cpp git bundle shipped inside this node-llama-cpp release. */
export const DEFAULT_ENGINE_SOURCE = 'npm:node-llama-cpp@3.22.1';

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

export function parseEngineSource(source: string): Parsed<EngineSource> {
  if (source.startsWith('npm:')) {
    const spec = source.slice('npm:'.length);
    const at = spec.lastIndexOf('@');
    const name = spec.slice(0, at);
    const version = spec.slice(at + 1);
    if (at <= 0 || name !== 'node-llama-cpp' || !SEMVER.test(version)) {
      return { ok: false, message: 'npm: must be npm:node-llama-cpp@<exact version>, e.g. npm:node-llama-cpp@3.22.1' };
    }
    return { ok: true, value: { kind: 'npm', package: 'node-llama-cpp', version } };
  }
  if (source.startsWith('git:')) {
    const spec = source.slice('git:'.length);
    const hash = spec.lastIndexOf('#');
    const url = spec.slice(0, hash);
    const ref = spec.slice(hash + 1);
    if (hash <= 0 || ref === '')
      return {
        ok: false,
        message: 'git: must be git:<url>#<ref>, e.g. git:https://github.com/ggml-org/llama.cpp#b6500',
      };
    return { ok: true, value: { kind: 'git', url, ref } };
  }
  if (source.startsWith('path:')) {
    const dir = source.slice('path:'.length);
    if (dir === '') return { ok: false, message: 'path: needs a llama.cpp source directory' };
    return { ok: true, value: { kind: 'path', dir } };
  }
  if (source.startsWith('binary:')) {
    const path = source.slice('binary:'.length);
    if (path === '') return { ok: false, message: 'binary: needs the path of a llama-server executable' };
    return { ok: true, value: { kind: 'binary', path } };
  }
  return {
    ok: false,
    message: 'must be npm:node-llama-cpp@<version>, git:<url>#<ref>, path:<dir> or binary:<llama-server>',
  };
}

export const EngineSourceSchema = named(
  z.string().superRefine((source, ctx) => {
    const parsed = parseEngineSource(source);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
  }),
  'EngineSource',
  'llama.cpp source: npm:node-llama-cpp@<version>, git:<url>#<ref>, path:<dir> or binary:<llama-server>.',
);
