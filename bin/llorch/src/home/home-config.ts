import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { loadNodeConfig } from '@llama-orch/config';
import { parseModelRef } from '@llama-orch/contracts';

export interface HomeConfig {
  readonly file: string;
  readonly pools: readonly { id: string; model: string }[];
  readonly demo: boolean;
}

/** A pool id from a model reference: `hf:Qwen/…/qwen2.5-0.5b-instruct-q4_k_m.gguf` → `qwen2-5-0-5b-instruct-q4-k-m`. */
export function poolIdFor(model: string): string {
  const name = basename(model.replace(/^[a-z]+:/, '')).replace(/\.gguf$/i, '');
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return id === '' ? 'model' : id;
}

/**
 * `--model` as a reference: a bare file path (`/srv/models/x.gguf`, `./x.gguf`, `~/models/x.gguf`, `x.gguf`) is
 * the `file:` reference of that file, made absolute (the generated config lives in the state directory), as is a
 * relative `file:` path; anything else (`demo`, `hf:…`, `https://…`) is taken as it is.
 */
export function modelReference(model: string, cwd: string = process.cwd(), home: string = homedir()): string {
  const absolute = (path: string): string =>
    path.startsWith('~/') ? join(home, path.slice(2)) : isAbsolute(path) ? path : resolve(cwd, path);
  if (model.startsWith('file:')) return model === 'file:' ? model : `file:${absolute(model.slice('file:'.length))}`;
  const schemed = model === 'demo' || /^[a-z][a-z0-9+.-]*:/i.test(model);
  const pathLike = /^(\/|\.{1,2}\/|~\/)/.test(model) || /\.gguf$/i.test(model);
  return !schemed && pathLike ? `file:${absolute(model)}` : model;
}

/**
 * The node config `llorch home` runs: the user's file, one pool for `--model`, or the labelled demo pool.
 * Generated files live in the state directory, as do the handoffs.
 */
export async function homeConfig(
  stateDir: string,
  file: string | undefined,
  modelArgument: string | undefined,
): Promise<{ ok: true; value: HomeConfig } | { ok: false; message: string }> {
  if (file !== undefined) {
    const loaded = await loadNodeConfig(file);
    if (!loaded.ok) return { ok: false, message: loaded.message };
    return {
      ok: true,
      value: { file, pools: loaded.value.pools.map((p) => ({ id: p.id, model: p.model })), demo: false },
    };
  }
  await mkdir(stateDir, { recursive: true });
  if (modelArgument !== undefined) {
    const model = modelReference(modelArgument);
    const ref = parseModelRef(model);
    if (!ref.ok) return { ok: false, message: `--model: ${ref.message} (or the path of a .gguf file)` };
    const id = poolIdFor(model);
    const generated = join(stateDir, 'home-model.yaml');
    await writeFile(
      generated,
      `# written by llorch home --model\nruntime_dir: ${stateDir}\npools:\n  - id: ${id}\n    model: ${JSON.stringify(model)}\n    ctx: 4096\n    slots: 2\n`,
    );
    return { ok: true, value: { file: generated, pools: [{ id, model }], demo: false } };
  }
  const generated = join(stateDir, 'home-demo.yaml');
  await writeFile(
    generated,
    `# written by llorch home: the demo pool (a tiny random-weight model, for trying the API)\nruntime_dir: ${stateDir}\npools:\n  - id: demo\n    model: demo\n    ctx: 2048\n    slots: 2\n`,
  );
  return { ok: true, value: { file: generated, pools: [{ id: 'demo', model: 'demo' }], demo: true } };
}
