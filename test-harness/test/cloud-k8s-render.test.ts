import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseNodeConfig } from '@llama-orch/config';
import { k8sSettings, OVERLAYS, podOf } from '../src/deploy-manifests.ts';
import {
  CLUSTER,
  containerOf,
  find,
  matches,
  meta,
  NS,
  overlay,
  schemaProblems,
  spec,
  type Obj,
} from '../src/k8s-rendered.ts';

const run = promisify(execFile);

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
