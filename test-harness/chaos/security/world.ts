/**
 * The cluster the security section measures, and what every check shares: startWorld starts a CLOUD
 * pool-managerd (mutual TLS, a demo pool on the real engine), the harness's OIDC issuer and a CLOUD orchestratord
 * (API keys, OIDC, HTTPS for clients), pushing each stop onto `stops`; `send` is one request with a failure as a
 * value; and the constants (the repository root, time limits, the task and session the probes name).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request, type Dispatcher } from 'undici';
import type { PoolList } from '@llama-orch/contracts';
import { createCa, issueCertificate, type PemPair } from '@llama-orch/tls';
import { testEngine } from '../../src/engine-fixture.ts';
import { startOidcIssuer, type OidcIssuer } from '../../src/oidc-issuer.ts';
import { startOrchestratord, type Orchestratord } from '../../src/orchestratord-process.ts';
import { startPoolManagerd, type PoolManagerd } from '../../src/pool-managerd-process.ts';
import { waitFor } from '../../src/processes.ts';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const REQUEST_MS = 10_000;
export const STREAM_MS = 60_000;
const READY_MS = 180_000;
export const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** The task and session the route probes name, made by the first stream of measureSecurity. */
export const TASK = 'sec-task';
export const SESSION = 'sec-session';
export const HI = [{ role: 'user', content: 'Hi' }];

export interface World {
  readonly url: string;
  readonly agent: Agent;
  /** Presents orchestratord's own client certificate (the callback's transport credential). */
  readonly clusterAgent: Agent;
  readonly caPem: string;
  readonly clientKey: string;
  readonly adminKey: string;
  readonly issuer: OidcIssuer;
  readonly orchestrator: Orchestratord;
  readonly pm: PoolManagerd;
  readonly privateKeys: readonly string[];
  readonly probeCerts: { readonly foreign: PemPair; readonly expired: PemPair; readonly serverOnly: PemPair };
  readonly clusterClient: PemPair;
}

export async function startWorld(stops: (() => Promise<unknown>)[]): Promise<World> {
  const fixture = await testEngine();
  const dir = await mkdtemp(join(tmpdir(), 'llorch-security-'));
  stops.push(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, text: string): Promise<string> => {
    await writeFile(join(dir, name), text, { mode: 0o600 });
    return join(dir, name);
  };
  const ca = await createCa('llama-orch security CA');
  const impostor = await createCa('llama-orch security CA'); // the same name, other keys
  const node = await issueCertificate(ca, { commonName: 'node-0', usage: 'server' });
  const clusterClient = await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client' });
  const api = await issueCertificate(ca, { commonName: 'api', usage: 'server' });
  const probeCerts = {
    foreign: await issueCertificate(impostor, { commonName: 'orchestratord', usage: 'client' }),
    // Valid from a minute ago until thirty seconds ago.
    expired: await issueCertificate(ca, { commonName: 'orchestratord', usage: 'client', validDays: -30 / 86_400 }),
    serverOnly: await issueCertificate(ca, { commonName: 'orchestratord', usage: 'server' }),
  };
  const caFile = await write('ca.crt', ca.cert);
  await write(
    'node.yaml',
    `node_id: node-0\nruntime_dir: ${dir}/run\ncache_dir: ${fixture.cacheDir}\nengine: { device: cpu }\n` +
      'pools: [{ id: demo, model: demo, ctx: 2048, slots: 2 }]\n',
  );
  const pm = await startPoolManagerd({
    LLORCH_CONFIG: join(dir, 'node.yaml'),
    LOG_LEVEL: 'trace',
    POOL_MANAGERD_PROFILE: 'cloud',
    POOL_MANAGERD_TLS_CERT: await write('node.crt', node.cert),
    POOL_MANAGERD_TLS_KEY: await write('node.key', node.key),
    POOL_MANAGERD_TLS_CA: caFile,
  });
  stops.push(pm.stop);
  const issuer = await startOidcIssuer();
  stops.push(() => issuer.close());
  const clientKey = `sk-sec-client-${hex(16)}`;
  const adminKey = `sk-sec-admin-${hex(16)}`;
  const orchestrator = await startOrchestratord({
    LOG_LEVEL: 'trace',
    ORCHD_PROFILE: 'cloud',
    ORCHD_POOL_MANAGERS: pm.url,
    ORCHD_TLS_CERT: await write('orch.crt', clusterClient.cert),
    ORCHD_TLS_KEY: await write('orch.key', clusterClient.key),
    ORCHD_TLS_CA: caFile,
    ORCHD_SERVER_TLS_CERT: await write('api.crt', api.cert),
    ORCHD_SERVER_TLS_KEY: await write('api.key', api.key),
    ORCHD_API_KEYS: `${clientKey} client,${adminKey} admin`,
    ORCHD_OIDC_ISSUER: issuer.issuer,
    ORCHD_OIDC_AUDIENCE: 'llama-orch',
  });
  stops.push(orchestrator.stop);
  const agent = new Agent({ connect: { ca: ca.cert } });
  stops.push(() => agent.destroy());
  const clusterAgent = new Agent({ connect: { ca: ca.cert, cert: clusterClient.cert, key: clusterClient.key } });
  stops.push(() => clusterAgent.destroy());
  const url = orchestrator.url;
  await waitFor(
    'the demo pool ready in orchestratord',
    async () => {
      const answer = await send(agent, `${url}/v2/pools`, 'GET', { authorization: `Bearer ${clientKey}` });
      if (answer.status !== 200) return undefined;
      return (JSON.parse(answer.body) as PoolList).pools[0]?.ready === true ? true : undefined;
    },
    READY_MS,
    250,
  );
  const privateKeys = [ca, impostor, node, clusterClient, api, ...Object.values(probeCerts)].map((p) => p.key);
  return {
    ...{ url, agent, clusterAgent, caPem: ca.cert, clientKey, adminKey, issuer, orchestrator, pm },
    ...{ privateKeys, probeCerts, clusterClient },
  };
}

export interface Answer {
  readonly status: number | null;
  readonly body: string;
  readonly failure: string | null;
}

/** One request within `timeoutMs`, reading at most `maxBytes` of the answer; a failure is a value. */
export async function send(
  dispatcher: Dispatcher,
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
  timeoutMs = REQUEST_MS,
  maxBytes = 64 * 1024,
): Promise<Answer> {
  try {
    const answer = await request(url, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) break;
    }
    return { status: answer.statusCode, body: Buffer.concat(parts).toString('utf8'), failure: null };
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    return { status: null, body: '', failure: code };
  }
}
