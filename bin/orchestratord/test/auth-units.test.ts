import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { parseConfig } from '../src/config.ts';
import {
  ANONYMOUS,
  findKey,
  KeysFile,
  mayAccess,
  parseKeyEntry,
  parseKeysFile,
  roleFromClaims,
} from '../src/http/auth/index.ts';
import { keyIdentity } from '../src/http/auth/api-keys.ts';
import { SessionStore, sessionKey } from '../src/tasks/sessions.ts';

const A = 'sk-tenant-a-0123456789';
const B = 'sk-tenant-b-0123456789';
const silent = pino({ level: 'silent' });

/** Poll a condition for at most `ms` (the watcher reacts to file events and a periodic check). */
async function eventually(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('orchestratord client authentication units', () => {
  test('parses key entries with an optional role and refuses bad ones without repeating the key', () => {
    assert.deepEqual(parseKeyEntry(A), { ok: true, entry: { key: A, role: 'client' } });
    assert.deepEqual(parseKeyEntry(`  ${B}   admin `), { ok: true, entry: { key: B, role: 'admin' } });
    for (const bad of ['short admin', `${A} root`, `${A} admin extra`]) {
      const parsed = parseKeyEntry(bad);
      assert.equal(parsed.ok, false, bad);
      if (!parsed.ok) assert.ok(!parsed.message.includes(A) && !parsed.message.includes('short'), parsed.message);
    }
    const file = parseKeysFile(`# tenants\n${A}\n\n${B} admin\r\n`);
    assert.deepEqual(file, {
      ok: true,
      entries: [
        { key: A, role: 'client' },
        { key: B, role: 'admin' },
      ],
    });
    assert.deepEqual(parseKeysFile(`${A}\nsk-too-short\n`), {
      ok: false,
      message: 'line 2: each API key needs at least 16 characters',
    });
  });

  test('finds the presented key with its role, and gives each key its own owner and a short label', () => {
    const entries = [
      { key: A, role: 'client' as const },
      { key: B, role: 'admin' as const },
    ];
    assert.deepEqual(findKey(B, entries), entries[1]);
    assert.equal(findKey('sk-nobody-0123456789', entries), null);
    const a = keyIdentity({ key: A, role: 'client' });
    const b = keyIdentity({ key: B, role: 'client' });
    assert.notEqual(a.owner, b.owner);
    assert.match(a.label, /^key:[0-9a-f]{6}$/);
    assert.ok(!a.owner.includes(A) && !a.label.includes(A));
  });

  test('only the owner and admins reach a task; anonymous (no auth configured) reaches everything', () => {
    const a = keyIdentity({ key: A, role: 'client' });
    const b = keyIdentity({ key: B, role: 'client' });
    const admin = keyIdentity({ key: B, role: 'admin' });
    assert.ok(mayAccess(a, a.owner));
    assert.ok(!mayAccess(b, a.owner));
    assert.ok(!mayAccess(b, undefined));
    assert.ok(mayAccess(admin, a.owner));
    assert.ok(mayAccess(ANONYMOUS, a.owner));
  });

  test('maps the OIDC role claim, nested or flat, a string or a list, to admin or client', () => {
    assert.equal(roleFromClaims({ llorch_role: 'admin' }, 'llorch_role'), 'admin');
    assert.equal(roleFromClaims({ roles: ['reader', 'admin'] }, 'roles'), 'admin');
    assert.equal(roleFromClaims({ realm_access: { roles: ['admin'] } }, 'realm_access.roles'), 'admin');
    assert.equal(roleFromClaims({ scope: 'openid admin' }, 'scope'), 'admin');
    assert.equal(roleFromClaims({ roles: ['administrator'] }, 'roles'), 'client');
    assert.equal(roleFromClaims({}, 'llorch_role'), 'client');
  });

  test('sessions of the same id under two owners are two sessions, each answering with the id its client gave', () => {
    const sessions = new SessionStore();
    sessions.touch(sessionKey('key:a', 's1'));
    assert.equal(sessions.info(sessionKey('key:a', 's1'))?.session_id, 's1');
    assert.equal(sessions.info(sessionKey('key:b', 's1')), null);
    assert.equal(sessions.delete(sessionKey('key:b', 's1')), false);
    assert.notEqual(sessions.info(sessionKey('key:a', 's1')), null);
  });

  test('parses the authentication variables and names each bad one', () => {
    const both = parseConfig({
      ORCHD_API_KEYS: `${A}, ${B} admin`,
      ORCHD_API_KEYS_FILE: '/run/secrets/keys',
      ORCHD_OIDC_ISSUER: 'https://auth.example.com/realms/llama',
      ORCHD_OIDC_AUDIENCE: 'llama-orch',
      ORCHD_SERVER_TLS_CERT: '/c',
      ORCHD_SERVER_TLS_KEY: '/k',
    });
    assert.ok(both.ok);
    assert.deepEqual(both.config.apiKeys, [
      { key: A, role: 'client' },
      { key: B, role: 'admin' },
    ]);
    assert.deepEqual(both.config.oidc, {
      issuer: 'https://auth.example.com/realms/llama',
      audience: 'llama-orch',
      roleClaim: 'llorch_role',
    });
    assert.deepEqual(both.config.serverTls, { certFile: '/c', keyFile: '/k' });
    const cloud = { ORCHD_PROFILE: 'cloud', ORCHD_TLS_CERT: '/c', ORCHD_TLS_KEY: '/k', ORCHD_TLS_CA: '/a' };
    assert.ok(parseConfig({ ...cloud, ORCHD_API_KEYS_FILE: '/keys' }).ok, 'a keys file alone is enough in CLOUD');
    assert.ok(
      parseConfig({ ...cloud, ORCHD_OIDC_ISSUER: 'https://idp', ORCHD_OIDC_AUDIENCE: 'x' }).ok,
      'OIDC alone is enough in CLOUD',
    );
    const refusals: [NodeJS.ProcessEnv, RegExp][] = [
      [cloud, /^ORCHD_PROFILE=cloud requires client authentication: ORCHD_API_KEYS/],
      [{ ORCHD_API_KEYS: `${A} root` }, /^ORCHD_API_KEYS\[0\]: an entry is "<key>" or "<key> <role>"/],
      [{ ORCHD_OIDC_ISSUER: 'https://idp' }, /^ORCHD_OIDC_ISSUER and ORCHD_OIDC_AUDIENCE: set both or neither/],
      [{ ORCHD_OIDC_ISSUER: 'http://idp.lan', ORCHD_OIDC_AUDIENCE: 'x' }, /^ORCHD_OIDC_ISSUER: must be https/],
      [{ ORCHD_OIDC_ROLE_CLAIM: 'a..b' }, /^ORCHD_OIDC_ROLE_CLAIM: /],
      [{ ORCHD_SERVER_TLS_KEY: '/k' }, /^ORCHD_SERVER_TLS_CERT and ORCHD_SERVER_TLS_KEY: set both or neither/],
    ];
    for (const [env, message] of refusals) {
      const parsed = parseConfig(env);
      assert.equal(parsed.ok, false, JSON.stringify(env));
      if (!parsed.ok) assert.match(parsed.message, message);
    }
  });

  test('re-reads a keys file swapped like a Kubernetes Secret (..data symlink) or renamed over, and keeps the keys when a new file is bad', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-keys-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // The layout kubelet makes: keys → ..data/keys, ..data → ..<timestamp>; an update swaps ..data atomically.
    await mkdir(join(dir, '..2026_01_01'));
    await writeFile(join(dir, '..2026_01_01', 'keys'), `${A}\n`);
    await symlink('..2026_01_01', join(dir, '..data'));
    await symlink('..data/keys', join(dir, 'keys'));
    const file = new KeysFile(join(dir, 'keys'), silent, 60_000); // a long period: the directory watch must do it
    await file.start();
    t.after(() => file.stop());
    assert.deepEqual(file.entries, [{ key: A, role: 'client' }]);

    await mkdir(join(dir, '..2026_01_02'));
    await writeFile(join(dir, '..2026_01_02', 'keys'), `${B} admin\n`);
    await symlink('..2026_01_02', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(join(dir, '..2026_01_01'), { recursive: true });
    await eventually('the swapped Secret', () => file.entries[0]?.key === B);
    assert.deepEqual(file.entries, [{ key: B, role: 'admin' }]);

    await mkdir(join(dir, '..2026_01_03'));
    await writeFile(join(dir, '..2026_01_03', 'keys'), `${A}\nshort\n`);
    await symlink('..2026_01_03', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await file.check();
    assert.deepEqual(file.entries, [{ key: B, role: 'admin' }], 'a bad file leaves the keys in use');

    const plain = join(dir, 'plain-keys');
    await writeFile(plain, `${A}\n`);
    const renamed = new KeysFile(plain, silent, 60_000);
    await renamed.start();
    t.after(() => renamed.stop());
    await writeFile(`${plain}.tmp`, `${A}\n${B}\n`);
    await rename(`${plain}.tmp`, plain);
    await eventually('the renamed-over file', () => renamed.entries.length === 2);
  });

  test('refuses to start on a keys file that is missing or bad, naming the variable and the line', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'llorch-keys-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await assert.rejects(
      new KeysFile(join(dir, 'none'), silent).start(),
      /^Error: ORCHD_API_KEYS_FILE: cannot read .*ENOENT/,
    );
    await writeFile(join(dir, 'bad'), `${A}\n${A} superuser\n`);
    await assert.rejects(new KeysFile(join(dir, 'bad'), silent).start(), (error: Error) => {
      assert.match(error.message, /^ORCHD_API_KEYS_FILE: .*bad line 2: an entry is/);
      assert.ok(!error.message.includes(A));
      return true;
    });
  });
});
