/**
 * Shared by the k8s/ manifest tests (test/cloud-k8s-*.test.ts): the rendered overlays, a strict schema check, and
 * small readers of rendered documents.
 */
import assert from 'node:assert/strict';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { podOf, renderOverlay } from './deploy-manifests.ts';

export type Obj = Record<string, unknown>;
export const NS = 'llama-orch';
export const CLUSTER = `${NS}.svc.cluster.local`;

/** The schema of each kind the manifests may hold: any other kind is a failure. */
const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/**
 * A document against its kind's OpenAPI schema (kubernetes-models), and strictly: the schema's validator reads every
 * field it knows, so a field it never read (a typo such as `readinessProbee`) is unknown to the API server too.
 */
export function schemaProblems(doc: Obj): string[] {
  const model = MODELS[`${String(doc['apiVersion'])}/${String(doc['kind'])}`];
  if (model === undefined) return [`no schema for ${String(doc['apiVersion'])} ${String(doc['kind'])}`];
  const watched: { path: string; keys: string[]; read: Set<string>; enumerated: boolean }[] = [];
  const watch = (value: unknown, path: string): unknown => {
    if (Array.isArray(value)) return value.map((item, index) => watch(item, `${path}[${index}]`));
    if (value === null || typeof value !== 'object') return value;
    const entry = { path, keys: Object.keys(value), read: new Set<string>(), enumerated: false };
    watched.push(entry);
    const copy = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, watch(v, `${path}.${k}`)]));
    return new Proxy(copy, {
      get: (target, key, receiver) => {
        if (typeof key === 'string') entry.read.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      has: (target, key) => {
        if (typeof key === 'string') entry.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys: (target) => {
        entry.enumerated = true; // a map (labels, data, resources): any key is allowed
        return Reflect.ownKeys(target);
      },
    });
  };
  try {
    model.prototype.validate.call(watch(doc, ''));
  } catch (error) {
    return [(error as Error).message];
  }
  return watched.flatMap((w) =>
    w.enumerated ? [] : w.keys.filter((k) => !w.read.has(k)).map((k) => `${w.path}.${k}: unknown field`),
  );
}

const rendered = new Map<string, Obj[]>();
export async function overlay(name: string): Promise<Obj[]> {
  const cached = rendered.get(name);
  if (cached !== undefined) return cached;
  const docs = await renderOverlay(name);
  assert.ok(docs.ok, docs.ok ? '' : docs.message);
  rendered.set(name, docs.value);
  return docs.value;
}
export const meta = (doc: Obj): Obj => (doc['metadata'] ?? {}) as Obj;
export const spec = (doc: Obj): Obj => (doc['spec'] ?? {}) as Obj;
export const find = (docs: readonly Obj[], kind: string, name: string): Obj => {
  const doc = docs.find((d) => d['kind'] === kind && meta(d)['name'] === name);
  assert.ok(doc !== undefined, `${kind}/${name} is rendered`);
  return doc;
};
export const containerOf = (workload: Obj, name: string): Obj => {
  const found = ((podOf(workload).spec['containers'] ?? []) as Obj[]).find((c) => c['name'] === name);
  assert.ok(found !== undefined, `container ${name}`);
  return found;
};
export const matches = (selector: Obj | undefined, labels: Obj): boolean =>
  Object.entries((selector?.['matchLabels'] ?? {}) as Obj).every(([k, v]) => labels[k] === v) &&
  ((selector?.['matchExpressions'] ?? []) as Obj[]).every((e) => {
    const values = (e['values'] ?? []) as unknown[];
    return e['operator'] === 'In' ? values.includes(labels[String(e['key'])]) : false;
  });
