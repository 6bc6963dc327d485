/** docker-compose files with compose's interpolation and merge rules, read as {@link ContainerSettings}. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseEnvFile } from './deploy-env-file.ts';
import {
  arr,
  obj,
  REPO_ROOT,
  scalar,
  type Component,
  type ContainerSettings,
  type Mount,
  type Obj,
  type Read,
} from './deploy-settings.ts';

/** Compose interpolation with an empty environment: `${X:-d}` and `${X-d}` give d, `${X}` gives "", `$$` is `$`. */
export function interpolate(text: string): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, _name, op, fallback) =>
    whole === '$$' ? '$' : op === ':-' || op === '-' ? String(fallback) : '',
  );
}

function interpolated(value: unknown): unknown {
  if (typeof value === 'string') return interpolate(value);
  if (Array.isArray(value)) return value.map(interpolated);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolated(v)]));
  return value;
}

/** A compose `environment` (map or list) as name → value; null for a name passed through from the host. */
function composeEnv(value: unknown): Map<string, string | null> {
  const env = new Map<string, string | null>();
  if (Array.isArray(value))
    for (const entry of value.map(scalar)) {
      const at = entry.indexOf('=');
      if (at < 0) env.set(entry, null);
      else env.set(entry.slice(0, at), entry.slice(at + 1));
    }
  else for (const [name, v] of Object.entries(obj(value))) env.set(name, v === null ? null : scalar(v));
  return env;
}

/** One service of several compose files merged by compose's rules (maps by key, volumes by target, lists appended). */
interface ComposeService {
  image: string | null;
  command: string[] | null;
  env: Map<string, string | null>;
  ports: { name: string | null; port: number }[];
  volumes: Map<string, Mount>;
  healthcheck: string[] | null;
}

function composeVolume(entry: unknown, topLevel: Obj): Mount | null {
  let source: string;
  let target: string;
  let readOnly: boolean;
  if (typeof entry === 'string') {
    const [s = '', t = '', mode = ''] = entry.split(':');
    [source, target, readOnly] = t === '' ? ['', s, false] : [s, t, mode.split(',').includes('ro')];
  } else {
    const long = obj(entry);
    [source, target, readOnly] = [scalar(long['source']), scalar(long['target']), long['read_only'] === true];
  }
  if (target === '') return null;
  const bind = source.startsWith('.') || source.startsWith('/') || !(source in topLevel);
  return { path: target, readOnly, volume: source, source: { kind: bind ? 'bind' : 'named-volume', name: source } };
}

function composePorts(service: Obj): { name: string | null; port: number }[] {
  const ports = arr(service['ports']).map((p) =>
    typeof p === 'object' ? Number(obj(p)['target']) : Number(scalar(p).split(':').pop()?.split('/')[0]),
  );
  const exposed = arr(service['expose']).map((p) => Number(scalar(p).split('/')[0]));
  return [...ports, ...exposed].map((port) => ({ name: null, port }));
}

function mergeService(into: ComposeService | undefined, raw: Obj, topVolumes: Obj, dir: string): ComposeService {
  const merged: ComposeService = into ?? {
    image: null,
    command: null,
    env: new Map(),
    ports: [],
    volumes: new Map(),
    healthcheck: null,
  };
  if ('image' in raw) merged.image = scalar(raw['image']);
  if ('command' in raw)
    merged.command = Array.isArray(raw['command']) ? raw['command'].map(scalar) : scalar(raw['command']).split(/\s+/);
  for (const file of (Array.isArray(raw['env_file']) ? raw['env_file'] : 'env_file' in raw ? [raw['env_file']] : [])
    .map(scalar)
    .filter(Boolean)) {
    const parsed = parseEnvFile(readFileSync(resolve(dir, file), 'utf8'));
    for (const [name, value] of Object.entries(parsed)) merged.env.set(name, value);
  }
  for (const [name, value] of composeEnv(raw['environment'])) merged.env.set(name, value);
  merged.ports.push(...composePorts(raw));
  for (const entry of arr(raw['volumes'])) {
    const mount = composeVolume(entry, topVolumes);
    if (mount !== null) merged.volumes.set(mount.path, mount);
  }
  const test = obj(raw['healthcheck'])['test'];
  if (test !== undefined) {
    const words = Array.isArray(test) ? test.map(scalar) : ['CMD-SHELL', scalar(test)];
    merged.healthcheck = words[0] === 'CMD-SHELL' ? ['sh', '-c', ...words.slice(1)] : words.slice(1);
  }
  return merged;
}

/** Which daemon a compose service runs: orchestratord's image, or the worker image's command (default pool-managerd). */
function composeComponent(service: ComposeService): Component | null {
  const image = service.image ?? '';
  if (/\/orchestratord:/.test(image)) return 'orchestratord';
  if (!/\/worker:/.test(image)) return null;
  return service.command?.[0] === 'engine-provisioner' ? 'engine-provisioner' : 'pool-managerd';
}

/** The daemons of compose files merged in order (the first the base, the others overrides). */
export function composeSettings(files: readonly string[]): Read<ContainerSettings[]> {
  const services = new Map<string, ComposeService>();
  for (const file of files) {
    const path = join(REPO_ROOT, file);
    if (!existsSync(path)) return { ok: false, message: `${file} does not exist` };
    let doc: Obj;
    try {
      doc = obj(interpolated(parse(readFileSync(path, 'utf8'), { merge: true })));
    } catch (error) {
      return { ok: false, message: `${file}: ${(error as Error).message}` };
    }
    for (const [name, raw] of Object.entries(obj(doc['services'])))
      services.set(name, mergeService(services.get(name), obj(raw), obj(doc['volumes']), dirname(path)));
  }
  const artifact = files.join(' + ');
  const settings: ContainerSettings[] = [];
  for (const [name, service] of services) {
    const component = composeComponent(service);
    if (component === null) continue;
    const env = [...service.env];
    settings.push({
      component,
      artifact,
      kind: 'compose',
      where: `service ${name}`,
      image: service.image,
      command: service.command,
      env: Object.fromEntries(env.filter((e): e is [string, string] => e[1] !== null)),
      envWithoutValue: env.filter(([, v]) => v === null).map(([n]) => n),
      ports: service.ports,
      probes: service.healthcheck === null ? [] : [{ kind: 'exec', use: 'healthcheck', command: service.healthcheck }],
      mounts: [...service.volumes.values()],
    });
  }
  return { ok: true, value: settings };
}
