import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { ErrorEnvelope } from '@llama-orch/contracts';
import { freePort } from '../src/free-port.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOidcIssuer, strangerKey, unsignedToken } from '../src/oidc-issuer.ts';
import { startOrchestratord } from '../src/orchestratord-process.ts';
import { waitFor } from '../src/processes.ts';

const KEY = 'sk-llorch-oidc-test-key-0123456789';

describe('orchestratord with OIDC bearer tokens', { timeout: 5 * 60_000 }, () => {
  test('verifies tokens against a real issuer: expired, wrong issuer or audience, bad signature and alg none are 401s with the envelope, and API keys work beside them', async (t) => {
    const issuer = await startOidcIssuer();
    t.after(() => issuer.close());
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: `http://127.0.0.1:${await freePort()}`,
      ORCHD_OIDC_ISSUER: issuer.issuer,
      ORCHD_OIDC_AUDIENCE: 'llama-orch',
      ORCHD_API_KEYS: KEY,
    });
    t.after(orchestrator.stop);
    const version = (authorization: string, correlation = 'oidc-test') =>
      jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/meta/version`, {
        headers: { authorization, 'x-correlation-id': correlation },
      });

    const good = await issuer.sign({ subject: 'alice' });
    assert.equal((await version(`Bearer ${good}`)).status, 200, 'a token the issuer signed for our audience');
    assert.equal((await version(`Bearer ${KEY}`)).status, 200, 'API keys work beside OIDC');
    const late = await issuer.sign({ subject: 'alice', expiresIn: -10 });
    assert.equal((await version(`Bearer ${late}`)).status, 200, 'an expiry within the clock skew allowance');

    const refused: [string, string, RegExp][] = [
      ['expired', await issuer.sign({ expiresIn: -120 }), /expired/],
      ['wrong issuer', await issuer.sign({ issuer: 'http://127.0.0.1:1/other' }), /"iss" claim/],
      ['wrong audience', await issuer.sign({ audience: 'someone-else' }), /"aud" claim/],
      [
        'bad signature',
        await issuer.sign({ key: await strangerKey(issuer.current().kid) }),
        /signature does not verify/,
      ],
      [
        'alg none',
        unsignedToken({ iss: issuer.issuer, aud: 'llama-orch', sub: 'mallory', exp: Date.now() / 1000 + 300 }),
        /algorithm is not accepted/,
      ],
      [
        'HMAC with a made-up secret',
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', kid: issuer.current().kid })
          .setIssuer(issuer.issuer)
          .setAudience('llama-orch')
          .setSubject('mallory')
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('a-secret-anyone-could-pick-000000')),
        /algorithm is not accepted/,
      ],
    ];
    for (const [what, token, message] of refused) {
      const answer = await version(`Bearer ${token}`, `refused-${what.replaceAll(' ', '-')}`);
      assert.equal(answer.status, 401, what);
      assert.equal(answer.body.code, 'UNAUTHORIZED', what);
      assert.match(answer.body.message, message, what);
      assert.equal(answer.headers['x-correlation-id'], `refused-${what.replaceAll(' ', '-')}`, what);
    }
    await waitFor(
      'the log to name the subject',
      () => (orchestrator.proc.output().includes('"identity":"oidc:alice"') ? true : undefined),
      5_000,
    );
    const output = orchestrator.proc.output();
    for (const [, token] of [['good', good], ...refused])
      assert.ok(!output.includes(token ?? ''), 'no token is ever logged');
  });

  test('fetches the key set again for an unknown kid, and maps the role claim: a client token may not drain, an admin token may', async (t) => {
    const issuer = await startOidcIssuer();
    t.after(() => issuer.close());
    const orchestrator = await startOrchestratord({
      ORCHD_POOL_MANAGERS: `http://127.0.0.1:${await freePort()}`,
      ORCHD_OIDC_ISSUER: issuer.issuer,
      ORCHD_OIDC_AUDIENCE: 'llama-orch',
      ORCHD_OIDC_ROLE_CLAIM: 'realm_access.roles',
    });
    t.after(orchestrator.stop);
    const drain = async (token: string) =>
      jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/pools/nowhere/drain`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: { deadline_ms: 1000 },
      });

    const client = await drain(await issuer.sign({ subject: 'carol', claims: { realm_access: { roles: ['user'] } } }));
    assert.equal(client.status, 403);
    assert.equal(client.body.code, 'FORBIDDEN');
    const admin = await drain(
      await issuer.sign({ subject: 'root-op', claims: { realm_access: { roles: ['admin'] } } }),
    );
    assert.equal(admin.status, 404, 'an admin passes the role check and learns the pool does not exist');
    await waitFor(
      'the drain logged with the identity',
      () =>
        orchestrator.proc
          .output()
          .split('\n')
          .some((line) => line.includes('"pool drain requested"') && line.includes('"identity":"oidc:root-op"'))
          ? true
          : undefined,
      5_000,
    );

    const fetchedBefore = issuer.jwksFetches();
    assert.ok(fetchedBefore >= 1);
    await issuer.rotate();
    const rotated = await issuer.sign({ subject: 'carol' });
    const answer = await waitFor(
      'a token with the new kid to verify (after the key set cooldown)',
      async () => {
        const attempt = await jsonRequest<ErrorEnvelope>(`${orchestrator.url}/v2/meta/version`, {
          headers: { authorization: `Bearer ${rotated}` },
        });
        return attempt.status === 200 ? attempt : undefined;
      },
      20_000,
      250,
    );
    assert.equal(answer.status, 200);
    assert.ok(issuer.jwksFetches() > fetchedBefore, 'the key set was fetched again');
  });
});
