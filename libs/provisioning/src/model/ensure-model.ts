import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Dispatcher } from 'undici';
import { buildDemoModel, DEMO_CHAT_TEMPLATE, DEMO_MODEL_DEFAULTS, DEMO_VOCABULARY } from './demo-model.ts';
import { downloadResumable, type DownloadProgress } from './download.ts';
import { checkGgufFile } from './gguf-reader.ts';
import { ModelError } from './model-error.ts';
import type { ModelLocation } from './model-location.ts';
import { sha256File } from './sha256-file.ts';

export interface ModelOptions {
  readonly expectedSha256?: string | undefined;
  /** llama.cpp source tree, for the demo model's vocabulary. */
  readonly vocabSourceDir: () => Promise<string>;
  readonly dispatcher?: Dispatcher;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly authToken?: string | undefined;
  readonly signal?: AbortSignal;
  /** The longest wait for a download's response headers (default 30 s). */
  readonly headersTimeoutMs?: number;
}

export interface ReadyModel {
  readonly path: string;
  readonly sha256: string | null;
}

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function requireGguf(path: string): Promise<void> {
  const check = await checkGgufFile(path);
  if (!check.ok) throw new ModelError('PROV_MODEL_NOT_GGUF', check.message);
}

/** A verified file gets `<file>.sha256` beside it (cache entries) so later starts need not hash it again. */
async function verified(path: string, expected: string | undefined): Promise<string | null> {
  const record = await readFile(`${path}.sha256`, 'utf8').catch(() => null);
  const size = await stat(path).then(
    (s) => s.size,
    () => null,
  );
  if (record !== null && size !== null) {
    const [digest, recordedSize] = record.trim().split(' ');
    if (recordedSize === String(size) && (expected === undefined || digest === expected)) return digest ?? null;
  }
  return null;
}

async function checkDigest(path: string, expected: string | undefined, what: string): Promise<string> {
  const actual = await sha256File(path);
  if (expected !== undefined && actual !== expected) {
    throw new ModelError('PROV_MODEL_DIGEST_MISMATCH', `${what}: sha256 mismatch: expected ${expected}, got ${actual}`);
  }
  return actual;
}

/** Make the model file ready: written (demo), checked (file) or downloaded and verified; always GGUF. */
export async function ensureModel(location: ModelLocation, options: ModelOptions): Promise<ReadyModel> {
  switch (location.kind) {
    case 'demo': {
      const cached = await verified(location.path, undefined);
      if (cached !== null) return { path: location.path, sha256: cached };
      const models = join(await options.vocabSourceDir(), 'models');
      const vocab = await readFile(join(models, DEMO_VOCABULARY));
      const template = await readFile(join(models, 'templates', DEMO_CHAT_TEMPLATE), 'utf8');
      const model = buildDemoModel(vocab, template, { ...DEMO_MODEL_DEFAULTS, kind: location.model ?? 'completion' });
      const digest = createHash('sha256').update(model).digest('hex');
      await writeAtomic(location.path, model);
      await writeAtomic(`${location.path}.sha256`, `${digest} ${model.length}\n`);
      return { path: location.path, sha256: digest };
    }
    case 'file': {
      const info = await stat(location.path).catch(() => null);
      if (info === null || !info.isFile())
        throw new ModelError('PROV_MODEL_NOT_FOUND', `model file ${location.path} does not exist`);
      await requireGguf(location.path);
      const digest =
        options.expectedSha256 === undefined
          ? null
          : await checkDigest(location.path, options.expectedSha256, location.path);
      return { path: location.path, sha256: digest };
    }
    case 'download':
      return download(location, options);
  }
}

/** Remove `dir` and its parents up to `top` while they are empty: the directories a failed download made. */
async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  for (let at = dir; ; at = dirname(at)) {
    try {
      await rmdir(at);
    } catch {
      return; // not empty: another model, or a .partial to resume from
    }
    if (at === top || dirname(at) === at) return;
  }
}

/** Download, verify (sha256, GGUF) and move into place; a failure leaves at most a `.partial` to resume. */
async function download(
  location: Extract<ModelLocation, { kind: 'download' }>,
  options: ModelOptions,
): Promise<ReadyModel> {
  const cached = await verified(location.path, options.expectedSha256);
  if (cached !== null) return { path: location.path, sha256: cached };
  const partial = `${location.path}.partial`;
  const made = await mkdir(dirname(location.path), { recursive: true });
  try {
    await downloadResumable(location.url, partial, {
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.authToken ? { headers: { authorization: `Bearer ${options.authToken}` } } : {}),
      ...(options.headersTimeoutMs !== undefined ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
    });
    try {
      const digest = await checkDigest(partial, options.expectedSha256, location.url);
      const gguf = await checkGgufFile(partial);
      if (!gguf.ok) throw new ModelError('PROV_MODEL_NOT_GGUF', `${location.url} is not a GGUF model: ${gguf.message}`);
      await rename(partial, location.path);
      await writeAtomic(`${location.path}.sha256`, `${digest} ${(await stat(location.path)).size}\n`);
      return { path: location.path, sha256: digest };
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  } catch (error) {
    if (made !== undefined) await removeEmptyDirs(dirname(location.path), made);
    throw error;
  }
}
