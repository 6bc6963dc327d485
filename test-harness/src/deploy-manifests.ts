/**
 * What each deployment artifact sets for each daemon, read the way its tool reads it: the Kubernetes overlays as
 * kustomize renders them, docker-compose.cloud.yml (alone and with docker-compose.cpu.yml) with compose's
 * interpolation and merge rules, and the bare-metal env files in deploy/env. One shape for all
 * ({@link ContainerSettings}), so a test can hold each of them against the daemon's configuration.
 *
 * The daemons' own tests cannot import this file (a bin never imports the test harness), so it is also a command:
 * `node test-harness/src/deploy-manifests.ts <component>...` prints `{ settings, missing }` as JSON.
 */
import { resolve } from 'node:path';
import { composeSettings } from './deploy-compose.ts';
import { envFileSettings } from './deploy-env-file.ts';
import { repoPathInImage } from './deploy-images.ts';
import { k8sSettings, renderOverlay } from './deploy-k8s.ts';
import {
  COMPONENTS,
  COMPOSE_FILES,
  componentOfName,
  OVERLAYS,
  type Collected,
  type Component,
  type ContainerSettings,
} from './deploy-settings.ts';

export { composeSettings, interpolate } from './deploy-compose.ts';
export { envFileSettings, parseEnvFile } from './deploy-env-file.ts';
export { containerfileImages, repoPathInImage } from './deploy-images.ts';
export { k8sSettings, kustomizeBinary, podOf, renderOverlay } from './deploy-k8s.ts';
export {
  COMPONENTS,
  COMPOSE_FILES,
  ENV_FILES,
  OVERLAYS,
  REPO_ROOT,
  type Collected,
  type Component,
  type ContainerSettings,
  type Mount,
  type Probe,
  type Read,
  type VolumeSource,
} from './deploy-settings.ts';

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
