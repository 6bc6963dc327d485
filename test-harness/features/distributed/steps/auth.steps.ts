/**
 * Steps of auth.feature: credentials (API keys, OIDC tokens) accepted or refused at the door.
 */
import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { request } from 'undici';
import type { ErrorEnvelope, PoolStatus } from '@llama-orch/contracts';
import { jsonRequest } from '../../../src/http-json.ts';
import { startOidcIssuer, type OidcIssuer } from '../../../src/oidc-issuer.ts';
import { waitFor } from '../../../src/processes.ts';
import type { ClusterWorld } from '../support/world.ts';
import {
  ANSWER_MS,
  area,
  clusterOf,
  lastAnswer,
  onePoll,
  taskBody,
  submit,
  follow,
  endedWith,
} from '../support/cloud-helpers.ts';
import { clusterClient, nodeGet } from '../support/node-tls.ts';

When(
  'I submit task {string} with no credential and correlation id {string}',
  async function (this: ClusterWorld, id: string, correlation: string) {
    await submit(this, taskBody(id, 8), { 'x-correlation-id': correlation });
  },
);

When(
  'I submit task {string} with the bearer {string} and correlation id {string}',
  async function (this: ClusterWorld, id: string, bearer: string, correlation: string) {
    await submit(this, taskBody(id, 8), { authorization: `Bearer ${bearer}`, 'x-correlation-id': correlation });
  },
);

When(
  'I submit task {string} with {int} max tokens and the client key in X-API-Key',
  async function (this: ClusterWorld, id: string, maxTokens: number) {
    const answer = await submit(this, taskBody(id, maxTokens), { 'x-api-key': clusterOf(this).apiKey });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
  },
);

Then(
  'the answer is the error envelope {string} with correlation id {string}',
  function (this: ClusterWorld, code: string, correlation: string) {
    const answer = lastAnswer<ErrorEnvelope>(this);
    assert.equal(answer.body.code, code, JSON.stringify(answer.body));
    assert.equal(typeof answer.body.message, 'string');
    assert.equal(answer.headers['x-correlation-id'], correlation, 'the refusal echoes the correlation id');
  },
);

Then('the answer is the error envelope {string}', function (this: ClusterWorld, code: string) {
  const answer = lastAnswer<ErrorEnvelope>(this);
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
  assert.equal(typeof answer.body.message, 'string');
  assert.ok(answer.headers['x-correlation-id'], 'the answer carries X-Correlation-Id');
});

Then(
  'the answer is the error envelope {string} saying {string}',
  function (this: ClusterWorld, code: string, words: string) {
    const answer = lastAnswer<ErrorEnvelope>(this);
    assert.equal(answer.body.code, code, JSON.stringify(answer.body));
    assert.ok(answer.body.message.includes(words), `the message says "${words}": ${answer.body.message}`);
  },
);

Then('task {string} was never admitted', async function (this: ClusterWorld, id: string) {
  const cluster = clusterOf(this);
  // The admin reaches every task (SEC-6105): a 404 means no identity ever had it.
  const answer = await request(`${cluster.url}/v2/tasks/${this.wireId(id)}/events`, {
    headers: { authorization: `Bearer ${cluster.adminKey}` },
    signal: AbortSignal.timeout(ANSWER_MS),
  });
  const text = await answer.body.text();
  assert.equal(answer.statusCode, 404, `task ${id} exists: ${text.slice(0, 300)}`);
  assert.equal((JSON.parse(text) as ErrorEnvelope).code, 'NOT_FOUND');
});

When(
  'I ask to drain pool {string} with the {word} key',
  async function (this: ClusterWorld, pool: string, role: string) {
    const cluster = clusterOf(this);
    assert.ok(role === 'client' || role === 'admin', `no ${role} key`);
    const key = role === 'admin' ? cluster.adminKey : cluster.apiKey;
    this.last = await jsonRequest(`${cluster.url}/v2/pools/${pool}/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: { deadline_ms: 1000 },
      timeoutMs: ANSWER_MS,
    });
  },
);

Then(
  'pool {string} is still ready and not draining on node {string}',
  async function (this: ClusterWorld, pool: string, nodeId: string) {
    // Asked of the node itself (the authority on its pools), so no poll interval needs to pass first.
    const node = clusterOf(this).node(nodeId);
    const answer = await nodeGet(`${node.url}/v2/pools/${pool}/status`, await clusterClient(this));
    assert.ok(
      'status' in answer && answer.status === 200,
      `GET ${pool}'s status from ${nodeId}: ${JSON.stringify(answer)}`,
    );
    const status = JSON.parse(answer.body) as PoolStatus;
    assert.equal(status.draining, false, answer.body);
    assert.equal(status.ready, true, answer.body);
  },
);

Then(
  'pool {string} is draining in orchestratord within one poll interval plus the request timeout',
  async function (this: ClusterWorld, pool: string) {
    const cluster = clusterOf(this);
    await cluster.waitForPools(
      (pools) => pools.some((p) => p.pool_id === pool && p.draining),
      `pool ${pool} draining`,
      onePoll(cluster),
    );
  },
);

Then(
  'pool {string} is drained out of placement in orchestratord within one poll interval plus the request timeout',
  async function (this: ClusterWorld, pool: string) {
    const cluster = clusterOf(this);
    // A drain with nothing in flight is over at once: the pool goes draining, then offline (POOL-3006).
    const pools = await cluster.waitForPools(
      (list) => list.some((p) => p.pool_id === pool && !p.ready && (p.draining || p.state === 'offline')),
      `pool ${pool} draining or drained`,
      onePoll(cluster),
    );
    this.attach(JSON.stringify(pools.find((p) => p.pool_id === pool)));
  },
);

Then(
  "orchestratord logged the drain with the admin key's fingerprint, never the key",
  async function (this: ClusterWorld) {
    const cluster = clusterOf(this);
    const orchestrator = cluster.orchestrators[0];
    assert.ok(orchestrator);
    const line = await waitFor(
      'the drain request in the log with an identity',
      () =>
        orchestrator
          .logs()
          .split('\n')
          .find((l) => l.includes('"pool drain requested"') && /"identity":"key:[^"]+"/.test(l)),
      ANSWER_MS,
    );
    this.attach(line);
    const logs = orchestrator.logs();
    assert.ok(!logs.includes(cluster.adminKey), 'the admin key itself is never logged');
    assert.ok(!logs.includes(cluster.apiKey), 'the client key itself is never logged');
  },
);

When(
  'I ask to drain pool {string} with an OIDC token whose role is {string}',
  async function (this: ClusterWorld, pool: string, role: string) {
    // ORCHD_OIDC_ROLE_CLAIM is unset: the role is the token's llorch_role claim (SEC-6103).
    const token = await issuerOf(this).sign({ subject: `${role}-operator`, claims: { llorch_role: role } });
    this.last = await jsonRequest(`${clusterOf(this).url}/v2/pools/${pool}/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: { deadline_ms: 1000 },
      timeoutMs: ANSWER_MS,
    });
  },
);

Given(
  'orchestratord trusts the test OIDC issuer for audience {string}',
  async function (this: ClusterWorld, audience: string) {
    const issuer = await startOidcIssuer();
    area(this).issuer = issuer;
    assert.equal(this.cluster, undefined, 'the issuer is trusted before the cluster step');
    this.orchestratordEnv['ORCHD_OIDC_ISSUER'] = issuer.issuer;
    this.orchestratordEnv['ORCHD_OIDC_AUDIENCE'] = audience;
  },
);

function issuerOf(world: ClusterWorld): OidcIssuer {
  const issuer = area(world).issuer;
  assert.ok(issuer, 'no OIDC issuer: a Given step starts one');
  return issuer;
}

When(
  'I submit task {string} with {int} max tokens and an OIDC token for subject {string}',
  async function (this: ClusterWorld, id: string, maxTokens: number, subject: string) {
    const token = await issuerOf(this).sign({ subject });
    area(this).token = token;
    await submit(this, taskBody(id, maxTokens), { authorization: `Bearer ${token}` });
  },
);

When('I follow the events of task {string} with that OIDC token', function (this: ClusterWorld, id: string) {
  const token = area(this).token;
  assert.ok(token, 'no OIDC token was used yet');
  follow(this, id, { authorization: `Bearer ${token}` });
});

Then(
  'task {string}, followed with that OIDC token, ends with {string} within {int} seconds',
  async function (this: ClusterWorld, id: string, terminal: string, seconds: number) {
    await endedWith(this, [id], terminal, seconds * 1000);
  },
);

Then(
  'orchestratord logged the identity {string}, never the token',
  async function (this: ClusterWorld, identity: string) {
    const orchestrator = clusterOf(this).orchestrators[0];
    assert.ok(orchestrator);
    await waitFor(
      `the identity ${identity} in the log`,
      () => (orchestrator.logs().includes(`"identity":"${identity}"`) ? true : undefined),
      ANSWER_MS,
    );
    const token = area(this).token;
    assert.ok(token && !orchestrator.logs().includes(token), 'the token itself is never logged');
  },
);

When(
  'I submit task {string} with an OIDC token that expired {int} seconds ago',
  async function (this: ClusterWorld, id: string, seconds: number) {
    const token = await issuerOf(this).sign({ expiresIn: -seconds });
    await submit(this, taskBody(id, 8), { authorization: `Bearer ${token}` });
  },
);

When(
  'I submit task {string} with an OIDC token for audience {string}',
  async function (this: ClusterWorld, id: string, audience: string) {
    const token = await issuerOf(this).sign({ audience });
    await submit(this, taskBody(id, 8), { authorization: `Bearer ${token}` });
  },
);
