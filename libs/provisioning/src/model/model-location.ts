import { basename, join } from 'node:path';
import type { ModelRef, PoolKind } from '@llama-orch/contracts';
import { shortHash } from '../engine/source-layout.ts';
import { DEMO_MODEL_VERSION } from './demo-model.ts';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** Where a model comes from and where it lives once fetched and verified. */
export type ModelLocation =
  /** `model` is what the demo writer makes: a completion, embedding or rerank model (one file name each). */
  | { readonly kind: 'demo'; readonly path: string; readonly seed: number; readonly model?: PoolKind }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'download'; readonly url: string; readonly path: string };

export function modelLocation(
  ref: ModelRef,
  cacheDir: string,
  sourceIdentity: string,
  hfEndpoint: string,
  poolKind: PoolKind = 'completion',
): ModelLocation {
  const models = join(cacheDir, 'models');
  switch (ref.kind) {
    case 'demo': {
      // The completion model keeps its name of old; the other kinds are other files.
      const prefix = poolKind === 'completion' ? 'demo' : `demo-${poolKind}`;
      return {
        kind: 'demo',
        seed: 42,
        model: poolKind,
        path: join(models, `${prefix}-${DEMO_MODEL_VERSION}-${shortHash(sourceIdentity)}-s42.gguf`),
      };
    }
    case 'file':
      return { kind: 'file', path: ref.path };
    case 'hf':
      return {
        kind: 'download',
        url: `${hfEndpoint.replace(/\/+$/, '')}/${ref.org}/${ref.repo}/resolve/main/${ref.file.split('/').map(encodeURIComponent).join('/')}`,
        path: join(models, 'hf', ref.org, ref.repo, ...ref.file.split('/')),
      };
    case 'https': {
      const name = basename(new URL(ref.url).pathname) || 'model.gguf';
      return { kind: 'download', url: ref.url, path: join(models, 'url', `${shortHash(ref.url)}-${name}`) };
    }
  }
}
