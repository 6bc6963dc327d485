/**
 * Generated models of three widths (the demo's writer, the demo's vocabulary), for tests and benchmarks that need
 * models of different sizes: pools loaded on demand under a memory budget (issue 18). Written once to the test cache.
 */
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildDemoModel,
  DEMO_CHAT_TEMPLATE,
  DEMO_MODEL_DEFAULTS,
  DEMO_MODEL_VERSION,
  DEMO_VOCABULARY,
  estimateModelFileMemory,
} from '@llama-orch/provisioning';
import { testCacheDir, testEngine } from './engine-fixture.ts';
import { llamaServersUnder } from './engine-slots.ts';

export const SIZED_SHAPES = {
  small: { embedding: 64, feedForward: 128 },
  middle: { embedding: 256, feedForward: 512 },
  large: { embedding: 384, feedForward: 768 },
} as const;
export type ModelSize = keyof typeof SIZED_SHAPES;
export const MODEL_SIZES = Object.keys(SIZED_SHAPES) as ModelSize[];

/** The model file of that size, written on first use. */
export async function sizedModel(size: ModelSize): Promise<string> {
  const shape = { ...DEMO_MODEL_DEFAULTS, ...SIZED_SHAPES[size] };
  const dir = join(testCacheDir(), 'on-demand');
  const path = join(dir, `${size}-${DEMO_MODEL_VERSION}-e${shape.embedding}-ff${shape.feedForward}.gguf`);
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) return path;
  const { sourceDir } = await testEngine();
  const vocab = await readFile(join(sourceDir, 'models', DEMO_VOCABULARY));
  const template = await readFile(join(sourceDir, 'models', 'templates', DEMO_CHAT_TEMPLATE), 'utf8');
  await mkdir(dir, { recursive: true });
  await writeFile(`${path}.tmp-${process.pid}`, buildDemoModel(vocab, template, shape));
  await rename(`${path}.tmp-${process.pid}`, path);
  return path;
}

/** Every size's file and the memory one CPU engine of it (ctx, one slot) is estimated to hold. */
export async function sizedModels(ctx: number): Promise<Record<ModelSize, { path: string; estimate: number }>> {
  const entries = await Promise.all(
    MODEL_SIZES.map(async (size) => {
      const path = await sizedModel(size);
      const estimate = await estimateModelFileMemory({ modelPath: path, ctx, slots: 1, device: 'cpu' });
      return [size, { path, estimate: estimate?.totalBytes ?? 0 }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<ModelSize, { path: string; estimate: number }>;
}

/** The model files of the llama-server processes alive under `parent` now (read from /proc). */
export async function engineModels(parent: number): Promise<string[]> {
  return (await llamaServersUnder(parent)).flatMap(({ argv }) => {
    const file = argv[argv.indexOf('-m') + 1];
    return file === undefined ? [] : [file];
  });
}
