/**
 * Mutual TLS with DNS discovery as in Kubernetes (CLOUD-7009): pod addresses are unknown when certificates are
 * issued, so a pool-managerd's certificate names only the headless Service's DNS names. orchestratord reaches a node
 * at the address DNS gave and checks its certificate against the name it was found under: the name whose A records
 * listed it, or the SRV target. A real DNS server on loopback answers.
 *
 * node-a at 127.0.0.2:P has a certificate for the Service name alone; node-b at 127.0.0.3:P one for the wildcard
 * `*.<service>` alone (its pods' names). Neither names an address, loopback included.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AdmissionResponse, PoolList } from '@llama-orch/contracts';
import { createCa, issueCertificate } from '@llama-orch/tls';
import { Agent } from 'undici';
import { startDnsServer, type DnsZone, type TestDnsServer } from '../src/dns-server.ts';
import { testEngine } from '../src/engine-fixture.ts';
import { freePort } from '../src/free-port.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd } from '../src/pool-managerd-process.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents, summarize } from '../src/sse.ts';

const POLL_MS = 500;
/** The engines are up before orchestratord looks: placement follows discovery within a poll, plus slack. */
const PLACEABLE_MS = 10_000;
const SERVICE = 'pool-managerd.llama-orch.svc.cluster.local';
const POD_0 = `pool-managerd-0.${SERVICE}`;
const SRV = `_pool-managerd._tcp.${SERVICE}`;
/** A name no certificate here carries. */
const OTHER = 'pool-managerd.other.svc.cluster.local';

interface LogLine {
  readonly msg?: string;
  readonly node?: string;
  readonly reason?: string;
  readonly via?: string;
  readonly server_names?: Record<string, string>;
}

const logLines = (daemon: Orchestratord): LogLine[] =>
  daemon.proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => JSON.parse(l) as LogLine);

const logLine = (daemon: Orchestratord, what: string, match: (line: LogLine) => boolean): Promise<LogLine> =>
  waitFor(what, () => logLines(daemon).find(match), 10_000);

const readyPools = async (url: string): Promise<string[]> =>
  (await jsonRequest<PoolList>(`${url}/v2/pools`, { timeoutMs: 5_000 })).body.pools
    .filter((p) => p.ready)
    .map((p) => p.pool_id)
    .sort();

const untilPools = (url: string, expected: readonly string[], budgetMs: number): Promise<true> =>
  waitFor(
    `ready pools ${expected.join(',')}`,
    async () => ((await readyPools(url)).join(',') === [...expected].sort().join(',') ? true : undefined),
    budgetMs,
    50,
  );

/** Run one task and return the pool that ran it. */
async function runTask(url: string, id: string): Promise<string> {
  const admitted = await jsonRequest<AdmissionResponse>(`${url}/v2/tasks`, {
    method: 'POST',
    body: { task_id: id, model_ref: 'demo', prompt: 'Hi', max_tokens: 4 },
  });
  assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
  const { events } = await followEvents(`${url}/v2/tasks/${id}/events`, { timeoutMs: 30_000 });
  assert.equal(events.at(-1)?.event, 'end', summarize(events));
  return String(events.find((e) => e.event === 'started')?.data['pool_id']);
}

describe(
  'pool-managerds found through DNS are checked against the name they were found under',
  { timeout: 10 * 60_000 },
  () => {
    let dir = '';
    let dns: TestDnsServer | null = null;
    const stops: (() => Promise<void>)[] = [];
    let orchestrator: Orchestratord;
    let P = 0;
    let tlsEnv: Record<string, string> = {};
    let zone: DnsZone = {};
    const setZone = (next: DnsZone): void => {
      zone = next;
      dns?.setZone(next);
    };

    before(async () => {
      const fixture = await testEngine();
      dir = await mkdtemp(join(tmpdir(), 'llorch-discovery-tls-'));
      const ca = await createCa('cluster CA');
      const write = async (name: string, pem: string): Promise<string> => {
        await writeFile(join(dir, name), pem, { mode: 0o600 });
        return join(dir, name);
      };
      const caFile = await write('ca.crt', ca.cert);
      const client = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
      tlsEnv = {
        ORCHD_TLS_CERT: await write('orch.crt', client.cert),
        ORCHD_TLS_KEY: await write('orch.key', client.key),
        ORCHD_TLS_CA: caFile,
      };
      P = await freePort();
      /** Start a node whose certificate names `name` only, and wait for its engine (asked under `asked`). */
      const startNode = async (
        nodeId: string,
        poolId: string,
        host: string,
        name: string,
        asked: string,
      ): Promise<void> => {
        const pair = await issueCertificate(ca, {
          commonName: nodeId,
          hosts: [name],
          loopback: false,
          usage: 'server',
        });
        const config = join(dir, `${nodeId}.yaml`);
        await writeFile(
          config,
          [
            `node_id: ${nodeId}`,
            `runtime_dir: ${join(dir, `run-${nodeId}`)}`,
            `cache_dir: ${fixture.cacheDir}`,
            'engine: { device: cpu }',
            `pools: [{ id: ${poolId}, model: demo, ctx: 2048, slots: 1 }]`,
            '',
          ].join('\n'),
        );
        const node = await startPoolManagerd({
          LLORCH_CONFIG: config,
          POOL_MANAGERD_BIND_ADDR: `${host}:${P}`,
          POOL_MANAGERD_TLS_CERT: await write(`${nodeId}.crt`, pair.cert),
          POOL_MANAGERD_TLS_KEY: await write(`${nodeId}.key`, pair.key),
          POOL_MANAGERD_TLS_CA: caFile,
        });
        stops.push(node.stop);
        const agent = new Agent({ connect: { cert: client.cert, key: client.key, ca: ca.cert, servername: asked } });
        try {
          await waitFor(
            `${nodeId} ready`,
            async () =>
              (await jsonRequest<PoolList>(`${node.url}/v2/pools`, { dispatcher: agent })).body.pools[0]?.ready
                ? true
                : undefined,
            120_000,
          );
        } finally {
          await agent.close();
        }
      };
      // Both engines up before orchestratord looks, so the budgets below measure discovery, not engine start.
      await startNode('node-a', 'pa', '127.0.0.2', SERVICE, SERVICE);
      await startNode('node-b', 'pb', '127.0.0.3', `*.${SERVICE}`, POD_0);
      dns = await startDnsServer();
      stops.push(dns.close);
      setZone({ a: { [SERVICE]: ['127.0.0.2'] } });
      orchestrator = await startOrchestratord({
        ORCHD_POOL_MANAGERS_DNS: SERVICE,
        ORCHD_DNS_SERVERS: dns.address,
        ORCHD_POOL_MANAGERS_PORT: String(P),
        ORCHD_POOL_POLL_INTERVAL_MS: String(POLL_MS),
        ...tlsEnv,
      });
      stops.push(orchestrator.stop);
    });

    after(async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    test('a pool-managerd whose certificate names only the Service name, found in its A records, is polled, placeable and runs a task', async () => {
      await untilPools(orchestrator.url, ['pa'], PLACEABLE_MS);
      const change = await logLine(
        orchestrator,
        'the discovery',
        (l) => l.msg === 'pool-managerd addresses changed in DNS',
      );
      assert.deepEqual(change.server_names, { [`https://127.0.0.2:${P}`]: SERVICE }, 'checked against the A name');
      assert.equal(await runTask(orchestrator.url, 'by-service-name'), 'pa');
    });

    test('found through SRV, a pod whose target name only a wildcard certificate covers is polled, placeable and runs a task', async () => {
      setZone({
        a: { [SERVICE]: ['127.0.0.2'], [POD_0]: ['127.0.0.3'] },
        srv: { [SRV]: [{ target: POD_0, port: P }] },
      });
      await untilPools(orchestrator.url, ['pb'], PLACEABLE_MS);
      const change = await logLine(
        orchestrator,
        'the SRV change',
        (l) => l.msg === 'pool-managerd addresses changed in DNS' && l.via === 'srv',
      );
      assert.deepEqual(change.server_names, { [`https://127.0.0.3:${P}`]: POD_0 }, 'checked against the SRV target');
      assert.equal(await runTask(orchestrator.url, 'by-pod-name'), 'pb');
    });

    test('a certificate for another name is refused: the node stays out of placement and the log says why', async (t) => {
      // node-a's certificate names the Service; here DNS lists it under another name.
      setZone({ ...zone, a: { ...zone.a, [OTHER]: ['127.0.0.2'] } });
      const second = await startOrchestratord({
        ORCHD_POOL_MANAGERS_DNS: OTHER,
        ORCHD_DNS_SERVERS: dns?.address ?? '',
        ORCHD_POOL_MANAGERS_PORT: String(P),
        ORCHD_POOL_POLL_INTERVAL_MS: String(POLL_MS),
        ...tlsEnv,
      });
      t.after(second.stop);
      const node = `https://127.0.0.2:${P}`;
      const refused = await logLine(
        second,
        'the refusal',
        (l) => l.msg === 'pool-managerd unreachable; its pools leave placement' && l.node === node,
      );
      assert.match(
        refused.reason ?? '',
        /Host: pool-managerd\.other\.svc\.cluster\.local\. is not in the cert's altnames: DNS:pool-managerd\.llama-orch\.svc\.cluster\.local/,
      );
      // Several more rounds (each asks for OTHER's A records), and still nothing reachable or placeable.
      const asked = (): number => dns?.queries().filter((q) => q === `1 ${OTHER}`).length ?? 0;
      const seen = asked();
      await waitFor('three more discovery rounds', () => (asked() >= seen + 3 ? true : undefined), 10_000);
      assert.deepEqual(await readyPools(second.url), []);
      assert.equal(
        logLines(second).find((l) => l.msg === 'pool-managerd reachable'),
        undefined,
        'never reachable under a name its certificate does not carry',
      );
      // The first replica, which found node-a under the Service name, still runs tasks on node-b: nothing else changed.
      assert.deepEqual(await readyPools(orchestrator.url), ['pb']);
    });
  },
);
