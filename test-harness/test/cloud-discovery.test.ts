/**
 * Discovery without restarts (CLOUD): orchestratord finds its pool-managerds in DNS — A/AAAA of a name at
 * ORCHD_POOL_MANAGERS_PORT, or SRV targets and ports — re-resolved every poll, over mutual TLS. A real DNS server
 * on loopback answers; the test changes its records while orchestratord runs.
 *
 * Two pool-managerds, node-a at 127.0.0.1:P and node-b at 127.0.0.2:P, and a loopback forwarder at 127.0.0.1:R that
 * leads to node-b: the same node reached at another address and port.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
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
import { ORCHESTRATORD_CLI, startOrchestratord, type Orchestratord } from '../src/orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from '../src/pool-managerd-process.ts';
import { startProcess, stopProcess, waitFor } from '../src/processes.ts';
import { followEvents, summarize, within } from '../src/sse.ts';

const POLL_MS = 500;
/** A change must show within one poll interval; the rest is slack for a loaded 2-core machine. */
const WITHIN_A_POLL_MS = POLL_MS + 1_500;
const NAME = 'pools.test';
const SRV = `_pool-managerd._tcp.${NAME}`;

interface LogLine {
  readonly msg?: string;
  readonly node?: string;
  readonly node_id?: string | null;
  readonly same_as?: string;
  readonly via?: string;
  readonly added?: string[];
}

const logLines = (daemon: Orchestratord): LogLine[] =>
  daemon.proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => JSON.parse(l) as LogLine);

/** The first log line of a daemon that matches, waited for (its output arrives through a pipe). */
const logLine = (daemon: Orchestratord, what: string, match: (line: LogLine) => boolean): Promise<LogLine> =>
  waitFor(what, () => logLines(daemon).find(match), 10_000);

const readyPools = async (url: string): Promise<string[]> =>
  (await jsonRequest<PoolList>(`${url}/v2/pools`, { timeoutMs: 5_000 })).body.pools
    .filter((p) => p.ready)
    .map((p) => p.pool_id)
    .sort();

/** How long until orchestratord's ready pools are exactly `expected`. */
async function msUntilPools(url: string, expected: readonly string[], budgetMs = 30_000): Promise<number> {
  const started = Date.now();
  await waitFor(
    `ready pools ${expected.join(',')}`,
    async () => ((await readyPools(url)).join(',') === [...expected].sort().join(',') ? true : undefined),
    budgetMs,
    20,
  );
  return Date.now() - started;
}

/** Run one task (pinned to a pool, or any) and return the pool that ran it. */
async function runTask(url: string, id: string, pin?: string): Promise<string> {
  const admitted = await jsonRequest<AdmissionResponse>(`${url}/v2/tasks`, {
    method: 'POST',
    body: {
      task_id: id,
      model_ref: 'demo',
      prompt: 'Hi',
      max_tokens: 4,
      ...(pin === undefined ? {} : { placement: { mode: 'pin', pin_pool_id: pin } }),
    },
  });
  assert.equal(admitted.status, 202, JSON.stringify(admitted.body));
  const { events } = await followEvents(`${url}/v2/tasks/${id}/events`, { timeoutMs: 30_000 });
  assert.equal(events.at(-1)?.event, 'end', summarize(events));
  return String(events.find((e) => e.event === 'started')?.data['pool_id']);
}

/** A TCP forwarder from a free port of 127.0.0.1 to a pool-managerd: the same node at another address. */
async function forward(toHost: string, toPort: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const upstream = connect(toPort, toHost);
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('discovery of pool-managerds through DNS', { timeout: 20 * 60_000 }, () => {
  let dir = '';
  let dns: TestDnsServer | null = null;
  const stops: (() => Promise<void>)[] = [];
  let orchestrator: Orchestratord;
  let P = 0;
  let R = 0;
  let tlsEnv: Record<string, string> = {};
  let zone: DnsZone = {};
  const setZone = (next: DnsZone): void => {
    zone = next;
    dns?.setZone(next);
  };

  before(async () => {
    const fixture = await testEngine();
    dir = await mkdtemp(join(tmpdir(), 'llorch-discovery-'));
    const ca = await createCa('cluster CA');
    const write = async (name: string, pem: string): Promise<string> => {
      await writeFile(join(dir, name), pem, { mode: 0o600 });
      return join(dir, name);
    };
    // Nodes found through DNS are checked against the name they were found under (CLOUD-7009): the A name, the SRV
    // targets a.<name> and b.<name>; the static entry against its address.
    const server = await issueCertificate(ca, {
      commonName: 'pool-managerd',
      hosts: ['127.0.0.2', NAME, `*.${NAME}`],
      usage: 'server',
    });
    const client = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
    const caFile = await write('ca.crt', ca.cert);
    const nodeTls = {
      POOL_MANAGERD_TLS_CERT: await write('node.crt', server.cert),
      POOL_MANAGERD_TLS_KEY: await write('node.key', server.key),
      POOL_MANAGERD_TLS_CA: caFile,
    };
    tlsEnv = {
      ORCHD_TLS_CERT: await write('orch.crt', client.cert),
      ORCHD_TLS_KEY: await write('orch.key', client.key),
      ORCHD_TLS_CA: caFile,
    };
    const startNode = async (nodeId: string, poolId: string, host: string): Promise<PoolManagerd> => {
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
        ...nodeTls,
      });
      stops.push(node.stop);
      return node;
    };
    P = await freePort();
    const nodes = [await startNode('node-a', 'pa', '127.0.0.1'), await startNode('node-b', 'pb', '127.0.0.2')];
    // Both engines up before orchestratord looks, so the timings below measure discovery, not engine start.
    const agent = new Agent({ connect: { cert: client.cert, key: client.key, ca: ca.cert } });
    stops.push(() => agent.close());
    for (const node of nodes)
      await waitFor(
        `${node.url} ready`,
        async () =>
          (await jsonRequest<PoolList>(`${node.url}/v2/pools`, { dispatcher: agent })).body.pools[0]?.ready
            ? true
            : undefined,
        120_000,
      );
    const forwarder = await forward('127.0.0.2', P);
    stops.push(forwarder.close);
    R = forwarder.port;
    dns = await startDnsServer();
    stops.push(dns.close);
    setZone({ a: { [NAME]: ['127.0.0.1'] } });
    orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS_DNS: NAME,
      ORCHD_DNS_SERVERS: dns.address,
      ORCHD_POOL_MANAGERS_PORT: String(P),
      ORCHD_POOL_POLL_INTERVAL_MS: String(POLL_MS),
      ...tlsEnv,
    });
    stops.push(orchestrator.stop);
    await msUntilPools(orchestrator.url, ['pa'], 120_000);
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  test('polls each address in the A records of a name as a pool-managerd, over https at ORCHD_POOL_MANAGERS_PORT', async () => {
    assert.equal(await runTask(orchestrator.url, 'on-a'), 'pa');
    const discovered = await logLine(
      orchestrator,
      'the discovery log',
      (l) => l.msg === 'pool-managerd discovered; polled at once',
    );
    assert.equal(discovered.node, `https://127.0.0.1:${P}`);
    assert.equal(discovered.node_id, 'node-a');
    assert.ok(dns?.queries().includes(`33 ${SRV}`), 'the SRV name was asked first');
  });

  test('a pool-managerd added to the records is polled at once and placeable within a poll, logged with its node id', async (t) => {
    setZone({ a: { [NAME]: ['127.0.0.1', '127.0.0.2'] } });
    const ms = await msUntilPools(orchestrator.url, ['pa', 'pb']);
    t.diagnostic(`node-b placeable ${ms} ms after its record appeared (poll interval ${POLL_MS} ms)`);
    assert.ok(ms <= WITHIN_A_POLL_MS, `placeable after ${ms} ms`);
    const line = await logLine(
      orchestrator,
      'the log line',
      (l) => l.msg === 'pool-managerd discovered; polled at once' && l.node === `https://127.0.0.2:${P}`,
    );
    assert.equal(line?.node_id, 'node-b');
    assert.equal(await runTask(orchestrator.url, 'on-b', 'pb'), 'pb');
  });

  test('a pool-managerd removed from the records leaves placement within a poll, logged with its node id', async (t) => {
    setZone({ a: { [NAME]: ['127.0.0.2'] } });
    const ms = await msUntilPools(orchestrator.url, ['pb']);
    t.diagnostic(`node-a out of placement ${ms} ms after its record went (poll interval ${POLL_MS} ms)`);
    assert.ok(ms <= WITHIN_A_POLL_MS, `left after ${ms} ms`);
    const line = await logLine(
      orchestrator,
      'the log line',
      (l) => l.msg === 'pool-managerd no longer discovered; its pools leave placement',
    );
    assert.equal(line?.node, `https://127.0.0.1:${P}`);
    assert.equal(line.node_id, 'node-a');
    assert.equal(await runTask(orchestrator.url, 'after-a-left'), 'pb');
  });

  test('SRV records, when present, replace the A records with their targets and ports', async (t) => {
    setZone({
      ...zone,
      a: { [NAME]: ['127.0.0.2'], [`a.${NAME}`]: ['127.0.0.1'], [`b.${NAME}`]: ['127.0.0.1'] },
      srv: {
        [SRV]: [
          { target: `a.${NAME}`, port: P },
          { target: `b.${NAME}`, port: R }, // node-b, through the forwarder: only the SRV port reaches it there
        ],
      },
    });
    const ms = await msUntilPools(orchestrator.url, ['pa', 'pb']);
    t.diagnostic(`SRV targets placeable ${ms} ms after the records changed`);
    assert.ok(ms <= WITHIN_A_POLL_MS, `placeable after ${ms} ms`);
    const left = await logLine(
      orchestrator,
      'the A-record address to leave',
      (l) => l.msg === 'pool-managerd no longer discovered; its pools leave placement' && l.node_id === 'node-b',
    );
    assert.equal(left.node, `https://127.0.0.2:${P}`);
    const change = await logLine(
      orchestrator,
      'the SRV change',
      (l) => l.msg === 'pool-managerd addresses changed in DNS' && l.via === 'srv',
    );
    assert.deepEqual(change.added, [`https://127.0.0.1:${P}`, `https://127.0.0.1:${R}`].sort());
    assert.equal(await runTask(orchestrator.url, 'via-srv-a', 'pa'), 'pa');
    assert.equal(await runTask(orchestrator.url, 'via-srv-b', 'pb'), 'pb');
  });

  test('static entries and DNS together: two addresses that report the same node_id are one node, with a warning', async (t) => {
    // A second replica that also lists node-b statically, at its own address (DNS names it through the forwarder).
    const second = await startOrchestratord({
      ORCHD_POOL_MANAGERS: `https://127.0.0.2:${P}`,
      ORCHD_POOL_MANAGERS_DNS: SRV, // the CLOUD spec's form: the SRV name itself
      ORCHD_DNS_SERVERS: dns?.address ?? '',
      ORCHD_POOL_POLL_INTERVAL_MS: String(POLL_MS),
      ...tlsEnv,
    });
    t.after(second.stop);
    await msUntilPools(second.url, ['pa', 'pb']);
    const pools = (await jsonRequest<PoolList>(`${second.url}/v2/pools`)).body.pools;
    assert.deepEqual(pools.map((p) => p.pool_id).sort(), ['pa', 'pb'], 'each pool once');
    const warning = await waitFor('the duplicate warning', () =>
      logLines(second).find(
        (l) => l.msg === 'two pool-managerd addresses report the same node_id; treated as one node',
      ),
    );
    assert.equal(warning.node_id, 'node-b');
    assert.deepEqual(
      [warning.node, warning.same_as].sort(),
      [`https://127.0.0.1:${R}`, `https://127.0.0.2:${P}`].sort(),
      'the SRV address and the static address of node-b',
    );
    // node-b leaves DNS: the first replica loses it, the second still reaches it at its static address.
    setZone({ ...zone, srv: { [SRV]: [{ target: `a.${NAME}`, port: P }] } });
    await msUntilPools(orchestrator.url, ['pa']);
    assert.deepEqual(await readyPools(second.url), ['pa', 'pb']);
    assert.equal(await runTask(second.url, 'via-static-address', 'pb'), 'pb');
  });

  test('a DNS lookup that fails keeps the last answer: no node leaves placement', async () => {
    const before = await readyPools(orchestrator.url);
    assert.deepEqual(before, ['pa']);
    dns?.setFailing(true);
    try {
      await logLine(
        orchestrator,
        'the lookup failure',
        (l) => l.msg === 'pool-managerd DNS lookup failed; keeping the last answer',
      );
      const asked = dns?.queries().length ?? 0;
      // Several failed rounds (each may ask twice: two tries), the nodes still in placement after them.
      await waitFor('more failed lookups', () => ((dns?.queries().length ?? 0) >= asked + 6 ? true : undefined));
      assert.deepEqual(await readyPools(orchestrator.url), before);
      assert.equal(await runTask(orchestrator.url, 'while-dns-fails'), 'pa');
    } finally {
      dns?.setFailing(false);
    }
    await logLine(orchestrator, 'the lookup recovery', (l) => l.msg === 'pool-managerd DNS lookup answers again');
  });

  test('bad discovery settings stop orchestratord with a message naming the variable', async () => {
    const bad: Record<string, string>[] = [
      { ORCHD_POOL_MANAGERS_DNS: 'not a name!' },
      { ORCHD_POOL_MANAGERS_DNS: '10.0.0.7' },
      { ORCHD_POOL_MANAGERS_DNS: NAME, ORCHD_POOL_MANAGERS_PORT: '70000' },
      { ORCHD_POOL_MANAGERS_DNS: NAME, ORCHD_DNS_SERVERS: 'dns.example:53' },
      { ORCHD_POOL_MANAGERS_DNS: NAME, ORCHD_DNS_SERVERS: '127.0.0.1:99999' },
    ];
    for (const env of bad) {
      const proc = startProcess(process.execPath, [ORCHESTRATORD_CLI], { ...process.env, ...env });
      try {
        assert.equal(await within(`orchestratord with ${JSON.stringify(env)} to exit`, 20_000, () => proc.exited), 2);
      } finally {
        await stopProcess(proc);
      }
      const named = Object.keys(env).at(-1) ?? '';
      assert.ok(proc.output().includes(named), `${JSON.stringify(env)} names ${named}: ${proc.output()}`);
    }
  });
});
