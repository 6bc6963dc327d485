/**
 * A larger generated model than the demo (the demo's writer, 512-wide, 8 layers), so that the engine spends more
 * time per token and the stack's share shows at a different scale. Written once to ~/.cache/llama-orch/bench/.
 */
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildDemoModel,
  DEMO_CHAT_TEMPLATE,
  DEMO_MODEL_DEFAULTS,
  DEMO_MODEL_VERSION,
  DEMO_VOCABULARY,
} from '@llama-orch/provisioning';
import { testCacheDir, testEngine } from '../src/engine-fixture.ts';

export const LARGE_MODEL_SHAPE = { ...DEMO_MODEL_DEFAULTS, embedding: 512, layers: 8, heads: 8, feedForward: 1408 };

export async function ensureLargeModel(log: (line: string) => void): Promise<string> {
  const { embedding, layers, heads, feedForward, seed } = LARGE_MODEL_SHAPE;
  const dir = join(testCacheDir(), 'bench');
  const path = join(
    dir,
    `large-${DEMO_MODEL_VERSION}-e${embedding}-l${layers}-h${heads}-ff${feedForward}-s${seed}.gguf`,
  );
  if (
    await access(path).then(
      () => true,
      () => false,
    )
  )
    return path;
  log(`  writing ${path} (once)`);
  const { sourceDir } = await testEngine();
  const models = join(sourceDir, 'models');
  const vocab = await readFile(join(models, DEMO_VOCABULARY));
  const template = await readFile(join(models, 'templates', DEMO_CHAT_TEMPLATE), 'utf8');
  const model = buildDemoModel(vocab, template, LARGE_MODEL_SHAPE);
  await mkdir(dir, { recursive: true });
  await writeFile(`${path}.tmp-${process.pid}`, model);
  await rename(`${path}.tmp-${process.pid}`, path);
  return path;
}
