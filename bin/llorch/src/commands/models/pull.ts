import { stat } from 'node:fs/promises';
import { parseModelRef } from '@llama-orch/contracts';
import { ensureModel, modelLocation, provisioningCode, type ProvisioningErrorCode } from '@llama-orch/provisioning';
import type { LlorchEnv } from '../../config.ts';
import { commandEnv } from '../command-env.ts';
import { terminal } from '../output.ts';
import { cacheSetup, humanBytes, tildePath } from './model-cache.ts';
import { ProgressLine } from './progress-bar.ts';

export interface PullOptions {
  readonly ref: string;
  readonly sha256: string | undefined;
  readonly config: string | undefined;
}

/** What to do next, by the code of what went wrong. */
const HINTS: Partial<Record<ProvisioningErrorCode, string>> = {
  PROV_MODEL_FETCH_FAILED:
    'Check the reference and the network; gated Hugging Face models need HF_TOKEN, a mirror HF_ENDPOINT. Run it again to resume.',
  PROV_MODEL_NOT_GGUF: 'That is not a GGUF file: llama.cpp serves .gguf files (look for a -GGUF repository).',
  PROV_MODEL_DIGEST_MISMATCH: 'The file is not the one --sha256 names; it was not kept.',
  PROV_MODEL_NOT_FOUND: 'Check the path.',
};

/**
 * `llorch pull <ref>`: download a model into the cache `llorch home` reads (the same place and checks as
 * pool-managerd's own download: resumable, GGUF checked, sha256 recorded), with a progress bar; starts nothing.
 */
export async function pull(env: LlorchEnv, options: PullOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  const ref = parseModelRef(options.ref);
  if (!ref.ok) {
    stderr.write(`llorch pull: ${ref.message}\n`);
    return 2;
  }
  if (ref.value.kind === 'demo') {
    stdout.write('The demo model is written by `llorch home` on its first start; there is nothing to download.\n');
    return 0;
  }
  const vars = commandEnv(env);
  if (!vars.ok) {
    stderr.write(`llorch pull: ${vars.message}\n`);
    return 2;
  }
  const setup = await cacheSetup(vars.value, options.config ?? env.poolConfig);
  if (!setup.ok) {
    stderr.write(`llorch pull: ${setup.message}\n`);
    return 2;
  }
  const location = modelLocation(ref.value, setup.value.cacheDir, '', vars.value.hfEndpoint);
  if (location.kind === 'download') stdout.write(`pulling ${options.ref}\n  from ${location.url}\n`);
  const progress = new ProgressLine(stderr);
  let downloaded = false;
  try {
    const model = await ensureModel(location, {
      expectedSha256: options.sha256,
      vocabSourceDir: () => Promise.reject(new Error('only the demo model needs a vocabulary')),
      authToken: vars.value.hfToken,
      onProgress: (p) => {
        downloaded = true;
        progress.update(p);
      },
    });
    progress.end();
    const size = humanBytes((await stat(model.path)).size);
    const digest = model.sha256 === null ? '' : `, sha256 ${model.sha256}`;
    if (location.kind === 'file')
      stdout.write(`${options.ref} is a GGUF model (${size}); llorch home reads it in place.\n`);
    else
      stdout.write(
        `${downloaded ? 'pulled' : 'already in the cache:'} ${tildePath(model.path)} (${size}${digest})\n` +
          `serve it: npx llorch home --model ${options.ref}\n`,
      );
    return 0;
  } catch (error) {
    progress.end();
    const code = provisioningCode(error);
    const hint = code === null ? undefined : HINTS[code];
    stderr.write(`llorch pull: ${(error as Error).message}\n${hint === undefined ? '' : `${hint}\n`}`);
    return 1;
  }
}
