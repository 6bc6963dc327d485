import assert from 'node:assert/strict';
import { BlockList, isIPv4 } from 'node:net';
import { describe, test } from 'node:test';
import { OVERLAYS } from '../src/deploy-manifests.ts';
import { matches, NS, overlay, spec, type Obj } from '../src/k8s-rendered.ts';

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
});
