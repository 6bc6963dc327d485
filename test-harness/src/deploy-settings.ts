/** The shape every deployment-artifact reader gives (see deploy-manifests.ts), its constants and YAML helpers. */
import { resolve } from 'node:path';

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

export type Obj = Record<string, unknown>;
export const obj = (value: unknown): Obj =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {};
export const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
export const scalar = (value: unknown): string =>
  typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';

export const componentOfName = (name: string): Component | null =>
  (COMPONENTS as readonly string[]).includes(name) ? (name as Component) : null;
