import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { BlockList, isIPv4, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, createServer } from 'node:tls';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { parseNodeConfig } from '@llama-orch/config';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { k8sSettings, OVERLAYS, podOf, renderOverlay, REPO_ROOT } from '../src/deploy-manifests.ts';

type Obj = Record<string, unknown>;
const run = promisify(execFile);
const NS = 'llama-orch';
const CLUSTER = `${NS}.svc.cluster.local`;

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
function schemaProblems(doc: Obj): string[] {
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
async function overlay(name: string): Promise<Obj[]> {
  const cached = rendered.get(name);
  if (cached !== undefined) return cached;
  const docs = await renderOverlay(name);
  assert.ok(docs.ok, docs.ok ? '' : docs.message);
  rendered.set(name, docs.value);
  return docs.value;
}
const meta = (doc: Obj): Obj => (doc['metadata'] ?? {}) as Obj;
const spec = (doc: Obj): Obj => (doc['spec'] ?? {}) as Obj;
const find = (docs: readonly Obj[], kind: string, name: string): Obj => {
  const doc = docs.find((d) => d['kind'] === kind && meta(d)['name'] === name);
  assert.ok(doc !== undefined, `${kind}/${name} is rendered`);
  return doc;
};
const containerOf = (workload: Obj, name: string): Obj => {
  const found = ((podOf(workload).spec['containers'] ?? []) as Obj[]).find((c) => c['name'] === name);
  assert.ok(found !== undefined, `container ${name}`);
  return found;
};
const matches = (selector: Obj | undefined, labels: Obj): boolean =>
  Object.entries((selector?.['matchLabels'] ?? {}) as Obj).every(([k, v]) => labels[k] === v) &&
  ((selector?.['matchExpressions'] ?? []) as Obj[]).every((e) => {
    const values = (e['values'] ?? []) as unknown[];
    return e['operator'] === 'In' ? values.includes(labels[String(e['key'])]) : false;
  });

/** A party of a connection: a pod (its namespace's labels and its own) or an address outside the cluster. */
type Party = { readonly ns: string; readonly labels: Obj } | { readonly ip: string };
const SYSTEM_DNS: Party = { ns: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
const pod = (app: string): Party => ({ ns: NS, labels: { app } });

function peerMatches(peer: Obj, party: Party, policyNs: string): boolean {
  if ('ip' in party) {
    const block = peer['ipBlock'] as Obj | undefined;
    if (block === undefined || !isIPv4(party.ip)) return false;
    const within = (cidr: string): boolean => {
      const list = new BlockList();
      const [net = '', bits = '32'] = cidr.split('/');
      list.addSubnet(net, Number(bits));
      return list.check(party.ip);
    };
    return within(String(block['cidr'])) && !((block['except'] ?? []) as string[]).some(within);
  }
  if ('ipBlock' in peer) return false;
  const nsSelector = peer['namespaceSelector'] as Obj | undefined;
  const nsOk =
    nsSelector === undefined ? party.ns === policyNs : matches(nsSelector, { 'kubernetes.io/metadata.name': party.ns });
  return nsOk && (peer['podSelector'] === undefined || matches(peer['podSelector'] as Obj, party.labels));
}

/** NetworkPolicy semantics: a connection passes when the destination's ingress and the source's egress allow it. */
function allowed(policies: readonly Obj[], from: Party, to: Party, port: number, protocol = 'TCP'): boolean {
  const side = (direction: 'Ingress' | 'Egress', self: Party, other: Party): boolean => {
    if ('ip' in self || self.ns !== NS) return true; // only our namespace's pods are governed here
    const governing = policies.filter(
      (p) =>
        matches(spec(p)['podSelector'] as Obj, self.labels) &&
        ((spec(p)['policyTypes'] ?? []) as string[]).includes(direction),
    );
    if (governing.length === 0) return true;
    return governing.some((p) =>
      ((spec(p)[direction === 'Ingress' ? 'ingress' : 'egress'] ?? []) as Obj[]).some((rule) => {
        const peers = (rule[direction === 'Ingress' ? 'from' : 'to'] ?? []) as Obj[];
        const ports = (rule['ports'] ?? []) as Obj[];
        return (
          (peers.length === 0 || peers.some((peer) => peerMatches(peer, other, NS))) &&
          (ports.length === 0 || ports.some((p) => p['port'] === port && (p['protocol'] ?? 'TCP') === protocol))
        );
      }),
    );
  };
  return side('Egress', from, to) && side('Ingress', to, from);
}

describe('Kubernetes manifests (k8s/)', () => {
  test('each overlay renders with kustomize, and every document validates against its Kubernetes schema', async () => {
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      const kinds = new Set(docs.map((d) => String(d['kind'])));
      for (const kind of ['Namespace', 'Deployment', 'StatefulSet', 'Service', 'PodDisruptionBudget', 'NetworkPolicy'])
        assert.ok(kinds.has(kind), `${name} renders a ${kind}`);
      assert.ok(
        kinds.has('ServiceMonitor') && kinds.has('ConfigMap'),
        `${name} renders a ServiceMonitor and ConfigMap`,
      );
      for (const doc of docs)
        assert.deepEqual(schemaProblems(doc), [], `${name}: ${String(doc['kind'])}/${String(meta(doc)['name'])}`);
      for (const doc of docs.filter((d) => d['kind'] !== 'Namespace'))
        assert.equal(meta(doc)['namespace'], NS, `${String(doc['kind'])}/${String(meta(doc)['name'])} is in ${NS}`);
    }
  });

  test('every volume a container mounts is one its pod declares, as a volume or a claim template', async () => {
    for (const name of OVERLAYS)
      for (const workload of (await overlay(name)).filter(
        (d) => d['kind'] === 'Deployment' || d['kind'] === 'StatefulSet',
      )) {
        const { spec: podSpec, volumes, claims } = podOf(workload);
        const declared = new Set([...volumes.map((v) => String(v['name'])), ...claims]);
        for (const c of [...((podSpec['initContainers'] ?? []) as Obj[]), ...(podSpec['containers'] as Obj[])])
          for (const m of (c['volumeMounts'] ?? []) as Obj[])
            assert.ok(declared.has(String(m['name'])), `${name}: ${String(c['name'])} mounts ${String(m['name'])}`);
      }
  });

  test('a misspelt field or a wrong type fails the schema check', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } };
    const template = { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'x', image: 'x' }] } };
    const ok = { ...deployment, spec: { selector: { matchLabels: { a: 'b' } }, template } };
    assert.deepEqual(schemaProblems(ok), []);
    const typo = { ...ok, spec: { ...ok.spec, replicaz: 3 } };
    assert.deepEqual(schemaProblems(typo), ['.spec.replicaz: unknown field']);
    assert.match(schemaProblems({ ...ok, spec: { ...ok.spec, replicas: 'three' } }).join(), /replicas must be integer/);
  });

  test('orchestratord: 3 replicas, readiness /ready and liveness /health on the API port, resources, a PodDisruptionBudget and a Service', async () => {
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      const deployment = find(docs, 'Deployment', 'orchestratord');
      assert.equal(spec(deployment)['replicas'], 3);
      const [settings] = k8sSettings([deployment], name);
      assert.ok(settings !== undefined);
      const probes = Object.fromEntries(settings.probes.map((p) => [p.use, p]));
      assert.deepEqual(probes['readiness'], {
        kind: 'http',
        use: 'readiness',
        path: '/ready',
        port: 8080,
        scheme: 'HTTPS',
      });
      assert.deepEqual(probes['liveness'], {
        kind: 'http',
        use: 'liveness',
        path: '/health',
        port: 8080,
        scheme: 'HTTPS',
      });
      const resources = containerOf(deployment, 'orchestratord')['resources'] as Obj;
      assert.ok(
        (resources['requests'] as Obj)['cpu'] !== undefined && (resources['limits'] as Obj)['memory'] !== undefined,
      );
      const pdb = find(docs, 'PodDisruptionBudget', 'orchestratord');
      assert.ok(matches(spec(pdb)['selector'] as Obj, { app: 'orchestratord' }));
      assert.equal(spec(pdb)['maxUnavailable'], 1, 'a drain leaves 2 of 3 replicas up');
      const service = find(docs, 'Service', 'orchestratord');
      assert.ok(matches({ matchLabels: spec(service)['selector'] }, { app: 'orchestratord' }));
      assert.deepEqual(
        (spec(service)['ports'] as Obj[]).map((p) => [p['name'], p['port'], p['targetPort']]),
        [
          ['http', 8080, 'http'],
          ['metrics', 9090, 'metrics'],
        ],
      );
    }
  });

  test('pool-managerd: a StatefulSet with engine-provisioner beside it, sharing the runtime volume and the process namespace, with claims for runtime and cache', async () => {
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      const set = find(docs, 'StatefulSet', 'pool-managerd');
      const { spec: podSpec, claims } = podOf(set);
      assert.equal(podSpec['shareProcessNamespace'], true, 'pool-managerd checks the pids engine-provisioner starts');
      assert.deepEqual(claims, ['runtime', 'cache']);
      const settings = k8sSettings([set], name);
      const of = (component: string) => settings.find((s) => s.component === component);
      const manager = of('pool-managerd');
      const provisioner = of('engine-provisioner');
      assert.ok(manager !== undefined && provisioner !== undefined);
      assert.deepEqual(provisioner.command, ['engine-provisioner', 'up']);
      assert.deepEqual(manager.command, ['pool-managerd']);
      const runtimeOf = (s: typeof manager) => s.mounts.find((m) => m.volume === 'runtime')?.path;
      assert.equal(runtimeOf(manager), manager.env['POOL_MANAGERD_RUNTIME_DIR']);
      assert.equal(runtimeOf(provisioner), manager.env['POOL_MANAGERD_RUNTIME_DIR'], 'one runtime volume, one path');
      assert.equal(provisioner.env['ENGINE_PROVISIONER_HANDOFF_DIR'], `${runtimeOf(manager)}/engines`);
      assert.equal(
        provisioner.mounts.find((m) => m.volume === 'cache')?.path,
        provisioner.env['ENGINE_PROVISIONER_CACHE_DIR'],
      );
      assert.equal(
        manager.env['LLORCH_CONFIG'],
        undefined,
        'engine-provisioner provisions; pool-managerd only watches',
      );
    }
  });

  test('GPU limits and the nvidia runtime class are in the gpu overlay only; cpu-demo serves the demo model on CPU', async () => {
    const gpuSet = find(await overlay('k8s/overlays/gpu'), 'StatefulSet', 'pool-managerd');
    const cpuSet = find(await overlay('k8s/overlays/cpu-demo'), 'StatefulSet', 'pool-managerd');
    assert.equal(podOf(gpuSet).spec['runtimeClassName'], 'nvidia');
    const limits = (set: Obj, name: string) => ((containerOf(set, name)['resources'] as Obj)['limits'] ?? {}) as Obj;
    assert.equal(limits(gpuSet, 'engine-provisioner')['nvidia.com/gpu'], 1, 'the GPU goes to the engines');
    assert.equal(podOf(cpuSet).spec['runtimeClassName'], undefined);
    for (const set of [cpuSet, gpuSet]) assert.equal(limits(set, 'pool-managerd')['nvidia.com/gpu'], undefined);
    assert.equal(limits(cpuSet, 'engine-provisioner')['nvidia.com/gpu'], undefined);
    const deviceOf = async (name: string) => {
      const map = (await overlay(name)).find((d) => d['kind'] === 'ConfigMap');
      const text = String(((map?.['data'] ?? {}) as Obj)['node.yaml']);
      const parsed = parseNodeConfig(text.replaceAll('{{ordinal}}', '0'), name);
      assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.issues));
      return [parsed.value.engine.device, parsed.value.pools.map((p) => p.model)];
    };
    assert.deepEqual(await deviceOf('k8s/overlays/cpu-demo'), ['cpu', ['demo']]);
    const [device, models] = await deviceOf('k8s/overlays/gpu');
    assert.equal(device, 'cuda');
    assert.ok(
      (models as string[]).every((m) => m !== 'demo'),
      'a real model on the GPU',
    );
  });

  test('the node-config init container gives every pod its own pool ids, in a node config engine-provisioner accepts', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'k8s-node-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      const set = find(docs, 'StatefulSet', 'pool-managerd');
      const init = ((podOf(set).spec['initContainers'] ?? []) as Obj[]).find((c) => c['name'] === 'node-config');
      assert.ok(init !== undefined);
      const [shell, flag, script] = init['command'] as string[];
      const mounts = init['volumeMounts'] as Obj[];
      const ids: string[][] = [];
      for (const ordinal of [0, 1]) {
        // The init container's own script, its mount paths moved under a temporary directory.
        let local = String(script);
        for (const m of mounts) {
          const path = join(dir, String(m['name']));
          await mkdir(path, { recursive: true });
          local = local.replaceAll(String(m['mountPath']), path);
          if (m['name'] === 'node-config') {
            const map = docs.find((d) => d['kind'] === 'ConfigMap') ?? {};
            await writeFile(join(path, 'node.yaml'), String(((map['data'] ?? {}) as Obj)['node.yaml']));
          }
        }
        await run(String(shell), [String(flag), local], {
          env: { POD_NAME: `pool-managerd-${ordinal}`, PATH: '/usr/bin:/bin' },
        });
        const provisioner = containerOf(set, 'engine-provisioner');
        const configPath = String(
          ((provisioner['env'] ?? []) as Obj[]).find((e) => e['name'] === 'LLORCH_CONFIG')?.['value'],
        );
        const nodeMount = ((provisioner['volumeMounts'] ?? []) as Obj[]).find((m) =>
          configPath.startsWith(`${String(m['mountPath'])}/`),
        );
        assert.equal(nodeMount?.['name'], 'node', 'LLORCH_CONFIG lies in the rendered node config volume');
        const text = await readFile(
          join(dir, 'node', configPath.slice(String(nodeMount?.['mountPath']).length)),
          'utf8',
        );
        const parsed = parseNodeConfig(text, configPath);
        assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.issues));
        ids.push(parsed.value.pools.map((p) => p.id));
      }
      const [first = [], second = []] = ids;
      assert.ok(
        first.length > 0 && first.every((id) => !second.includes(id)),
        `${name}: ${first.join()} vs ${second.join()}`,
      );
    }
  });

  test('the headless Service pool-managerd gives the SRV records orchestratord resolves, targeting the StatefulSet pods', async () => {
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      const service = find(docs, 'Service', 'pool-managerd');
      const set = find(docs, 'StatefulSet', 'pool-managerd');
      assert.equal(spec(service)['clusterIP'], 'None', 'headless: DNS names the pods');
      assert.equal(spec(set)['serviceName'], 'pool-managerd', 'pods are pool-managerd-N.pool-managerd.<ns>.svc...');
      const podLabels = ((spec(set)['template'] as Obj)['metadata'] as Obj)['labels'] as Obj;
      assert.ok(matches({ matchLabels: spec(service)['selector'] }, podLabels));
      const port = (spec(service)['ports'] as Obj[]).find((p) => p['port'] === 9200);
      assert.deepEqual(
        [port?.['name'], port?.['protocol'], port?.['targetPort']],
        ['pool-managerd', 'TCP', 'pool-managerd'],
      );
      const srv = `_${String(port?.['name'])}._${String(port?.['protocol']).toLowerCase()}.pool-managerd.${CLUSTER}`;
      assert.equal(srv, `_pool-managerd._tcp.pool-managerd.${CLUSTER}`);
      const orchestratord = k8sSettings(docs, name).find((s) => s.component === 'orchestratord');
      assert.equal(orchestratord?.env['ORCHD_POOL_MANAGERS_DNS'], `pool-managerd.${CLUSTER}`);
      assert.equal(orchestratord?.env['ORCHD_POOL_MANAGERS'], undefined, 'DNS alone: no static list beside it');
      // pool-managerd's callbacks go to the orchestratord Service's API port.
      const manager = k8sSettings(docs, name).find((s) => s.component === 'pool-managerd');
      const callback = new URL(String(manager?.env['POOL_MANAGERD_ORCHESTRATORD_CALLBACK_URL']));
      assert.equal(callback.hostname, `orchestratord.${CLUSTER}`);
      const api = (spec(find(docs, 'Service', 'orchestratord'))['ports'] as Obj[]).find((p) => p['name'] === 'http');
      assert.equal(Number(callback.port), api?.['port']);
    }
  });

  test('NetworkPolicies: 8080 from the ingress namespace and the callbacks, 9200 from orchestratord, metrics from monitoring, egress only where needed', async () => {
    for (const name of OVERLAYS) {
      const policies = (await overlay(name)).filter((d) => d['kind'] === 'NetworkPolicy');
      const ingress: Party = { ns: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' } };
      const monitoring: Party = { ns: 'monitoring', labels: { app: 'prometheus' } };
      const stranger: Party = { ns: 'default', labels: { app: 'anything' } };
      const [orchd, pm] = [pod('orchestratord'), pod('pool-managerd')];
      const cases: [string, Party, Party, number, boolean, string?][] = [
        ['ingress → orchestratord API', ingress, orchd, 8080, true],
        ['ingress → orchestratord metrics', ingress, orchd, 9090, false],
        ['ingress → pool-managerd', ingress, pm, 9200, false],
        ['another namespace → orchestratord API', stranger, orchd, 8080, false],
        ['another namespace → pool-managerd', stranger, pm, 9200, false],
        ['another pod of the namespace → pool-managerd', pod('other'), pm, 9200, false],
        ['monitoring → orchestratord metrics', monitoring, orchd, 9090, true],
        ['monitoring → pool-managerd metrics', monitoring, pm, 9091, true],
        ['monitoring → orchestratord API', monitoring, orchd, 8080, false],
        ['monitoring → pool-managerd API', monitoring, pm, 9200, false],
        ['orchestratord → pool-managerd', orchd, pm, 9200, true],
        ['orchestratord → pool-managerd metrics', orchd, pm, 9091, false],
        ['pool-managerd → orchestratord callback', pm, orchd, 8080, true],
        ['pool-managerd → another pool-managerd', pm, pm, 9200, false],
        ['orchestratord → DNS', orchd, SYSTEM_DNS, 53, true, 'UDP'],
        ['pool-managerd → DNS', pm, SYSTEM_DNS, 53, true, 'UDP'],
        ['orchestratord → the internet', orchd, { ip: '203.0.113.7' }, 443, false],
        ['pool-managerd → a download host', pm, { ip: '203.0.113.7' }, 443, true],
        ['pool-managerd → a private address', pm, { ip: '10.1.2.3' }, 443, false],
        ['pool-managerd → cloud metadata', pm, { ip: '169.254.169.254' }, 443, false],
        ['pool-managerd → the internet, not https', pm, { ip: '203.0.113.7' }, 80, false],
      ];
      for (const [what, from, to, port, expected, protocol] of cases)
        assert.equal(allowed(policies, from, to, port, protocol), expected, `${name}: ${what}`);
    }
  });

  test('the ServiceMonitor scrapes the port named metrics of both Services, which is each daemon PROMETHEUS_METRICS_PORT', async () => {
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      const monitor = find(docs, 'ServiceMonitor', 'llama-orch');
      assert.deepEqual((spec(monitor)['namespaceSelector'] as Obj)['matchNames'], [NS]);
      const endpoints = spec(monitor)['endpoints'] as Obj[];
      const settings = k8sSettings(docs, name);
      for (const [serviceName, component] of [
        ['orchestratord', 'orchestratord'],
        ['pool-managerd', 'pool-managerd'],
      ]) {
        const service = find(docs, 'Service', String(serviceName));
        assert.ok(matches(spec(monitor)['selector'] as Obj, meta(service)['labels'] as Obj), `selects ${serviceName}`);
        const port = (spec(service)['ports'] as Obj[]).find((p) => endpoints.some((e) => e['port'] === p['name']));
        assert.equal(port?.['name'], 'metrics');
        const container = settings.find((s) => s.component === component);
        const target = container?.ports.find((p) => p.name === port?.['targetPort']);
        assert.equal(String(target?.port), container?.env['PROMETHEUS_METRICS_PORT']);
      }
    }
  });

  test('every container runs as uid 10001 without privilege escalation or capabilities, read-only where the daemon writes only to volumes', async () => {
    for (const name of OVERLAYS) {
      const docs = await overlay(name);
      assert.equal(
        (meta(find(docs, 'Namespace', NS))['labels'] as Obj)['pod-security.kubernetes.io/enforce'],
        'restricted',
      );
      for (const workload of docs.filter((d) => d['kind'] === 'Deployment' || d['kind'] === 'StatefulSet')) {
        const podSpec = podOf(workload).spec;
        const podSecurity = podSpec['securityContext'] as Obj;
        assert.deepEqual(
          [podSecurity['runAsNonRoot'], podSecurity['runAsUser'], podSecurity['runAsGroup']],
          [true, 10001, 10001],
        );
        assert.equal(podSpec['automountServiceAccountToken'], false, 'no daemon talks to the Kubernetes API');
        for (const c of [...((podSpec['initContainers'] ?? []) as Obj[]), ...(podSpec['containers'] as Obj[])]) {
          const security = c['securityContext'] as Obj;
          assert.equal(security['allowPrivilegeEscalation'], false, String(c['name']));
          assert.deepEqual((security['capabilities'] as Obj)['drop'], ['ALL'], String(c['name']));
          assert.equal(security['readOnlyRootFilesystem'], c['name'] !== 'engine-provisioner', String(c['name']));
        }
      }
    }
  });
});

describe('k8s/make-secrets.sh', () => {
  let dir = '';
  let docs: Obj[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-secrets-'));
    await run('bash', [join(REPO_ROOT, 'k8s/make-secrets.sh'), '--dir', dir], { cwd: REPO_ROOT });
    docs = parseAllDocuments(await readFile(join(dir, 'secrets.yaml'), 'utf8'))
      .map((d) => d.toJS() as Obj)
      .filter((d) => d !== null);
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const files = (secret: string): Record<string, Buffer> => {
    const doc = docs.find((d) => meta(d)['name'] === secret);
    assert.ok(doc !== undefined, `Secret ${secret} is written`);
    return Object.fromEntries(
      Object.entries(doc['data'] as Obj).map(([k, v]) => [k, Buffer.from(String(v), 'base64')]),
    );
  };

  test('writes valid Secrets holding every file the manifests mount and the variables name', async () => {
    for (const doc of docs) {
      assert.equal(doc['kind'], 'Secret');
      assert.equal(meta(doc)['namespace'], NS);
      assert.deepEqual(schemaProblems(doc), [], String(meta(doc)['name']));
    }
    for (const name of OVERLAYS) {
      const settings = k8sSettings(await overlay(name), name);
      let checked = 0;
      for (const s of settings)
        for (const [variable, value] of Object.entries(s.env)) {
          const mount = s.mounts.find((m) => value.startsWith(`${m.path}/`));
          if (mount?.source.kind !== 'secret') continue;
          const file = value.slice(mount.path.length + 1);
          assert.ok(
            files(mount.source.name)[file] !== undefined,
            `${s.where} ${variable}: ${mount.source.name} has ${file}`,
          );
          checked += 1;
        }
      assert.ok(checked >= 7, `${name}: the TLS and keys variables of both daemons were checked (${checked})`);
    }
    const keys = files('orchestratord-api-keys')['api-keys']?.toString() ?? '';
    const entries = keys.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    assert.deepEqual(
      entries.map((l) => l.split(' ')[1]),
      ['client', 'admin'],
    );
    assert.ok(
      entries.every((l) => (l.split(' ')[0] ?? '').length >= 16),
      'keys of 16 characters or more',
    );
    assert.equal(files('pool-managerd-tls')['orchestratord.key'], undefined, "a node never holds orchestratord's key");
    assert.equal(files('orchestratord-tls')['pool-managerd.key'], undefined, "orchestratord never holds a node's key");
    assert.ok(
      docs.every((d) => !Object.keys(d['data'] as Obj).includes('ca.key')),
      'the CA key stays out of the cluster',
    );
  });

  test('certificates chain to its CA; pool-managerd names the headless Service and every pod behind it, orchestratord its Service', async (t) => {
    const node = files('pool-managerd-tls');
    const orchd = files('orchestratord-tls');
    const ca = new X509Certificate(node['ca.crt'] ?? '');
    assert.deepEqual(node['ca.crt'], orchd['ca.crt'], 'one CA');
    const nodeCert = new X509Certificate(node['pool-managerd.crt'] ?? '');
    const orchdCert = new X509Certificate(orchd['orchestratord.crt'] ?? '');
    for (const cert of [nodeCert, orchdCert]) {
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${cert.subject} is signed by the CA`);
      assert.ok(
        cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1') && cert.keyUsage.includes('1.3.6.1.5.5.7.3.2'),
        'server and client use',
      );
    }
    for (const host of [
      `pool-managerd.${CLUSTER}`,
      `pool-managerd-0.pool-managerd.${CLUSTER}`,
      `pool-managerd-9.pool-managerd.${CLUSTER}`,
    ])
      assert.ok(nodeCert.checkHost(host) !== undefined, host);
    assert.equal(nodeCert.checkHost('pool-managerd.other.svc.cluster.local'), undefined);
    assert.equal(orchdCert.checkHost(`orchestratord.${CLUSTER}`), `orchestratord.${CLUSTER}`, 'the callback URL host');

    // A real handshake: orchestratord's client certificate to a node found as pool-managerd-1 under the SRV name.
    const server = createServer(
      {
        cert: node['pool-managerd.crt'],
        key: node['pool-managerd.key'],
        ca: node['ca.crt'],
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        servername: `pool-managerd-1.pool-managerd.${CLUSTER}`,
        ca: orchd['ca.crt'],
        cert: orchd['orchestratord.crt'],
        key: orchd['orchestratord.key'],
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.equal(answer, 'ok');
  });

  test('a second run keeps the CA, the certificates and the keys', async () => {
    const first = await readFile(join(dir, 'secrets.yaml'), 'utf8');
    await run('bash', [join(REPO_ROOT, 'k8s/make-secrets.sh'), '--dir', dir], { cwd: REPO_ROOT });
    assert.equal(await readFile(join(dir, 'secrets.yaml'), 'utf8'), first);
  });
});
