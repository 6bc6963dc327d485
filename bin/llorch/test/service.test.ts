import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));
const UNIT = 'llorch-home.service';

function temp(t: { after: (fn: () => void) => void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** llorch with a clean environment: only what the test sets (no daemon variables of the machine leak in). */
function llorch(
  args: string[],
  env: Record<string, string>,
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { HOME: process.env['HOME'] ?? '/root', ...env },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** `Key=value` lines of a unit file, by section. */
function parseUnit(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | null = null;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section?.[1] !== undefined) {
      current = [];
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current !== null && eq > 0, `not a unit line: ${line}`);
    current.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return sections;
}

const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('llorch service', () => {
  test('install writes a user unit that runs llorch home with this node, the config and the daemons’ variables; uninstall removes it', (t) => {
    const configHome = temp(t, 'llorch-xdg-');
    const work = temp(t, 'llorch-svc-');
    const config = join(work, 'my pools.yaml');
    writeFileSync(config, 'pools:\n  - { id: chat, model: demo, ctx: 2048, slots: 2 }\n');
    const env = {
      XDG_CONFIG_HOME: configHome,
      PATH: '/usr/local/bin:/usr/bin:/bin',
      ORCHD_BIND_ADDR: '127.0.0.1:8090',
      POOL_MANAGERD_RUNTIME_DIR: join(work, 'state'),
      ORCHD_API_KEYS: 'k1,k2',
      HF_TOKEN: 'hf_secret',
      LLORCH_API_KEY: 'client-key',
      UNRELATED: 'x',
    };
    const run = llorch(['service', 'install', '--config', config], env);
    assert.equal(run.status, 0, run.stderr);
    const unitFile = join(configHome, 'systemd', 'user', UNIT);
    assert.match(run.stdout, new RegExp(`wrote ${unitFile}`));
    assert.match(run.stdout, /systemctl --user daemon-reload && systemctl --user enable --now llorch-home\.service/);
    assert.match(run.stdout, /loginctl enable-linger/);

    const text = readFileSync(unitFile, 'utf8');
    const unit = parseUnit(text);
    const service = new Map(unit.get('Service'));
    assert.equal(
      service.get('ExecStart'),
      `${process.execPath} ${CLI} home --config "${config}"`,
      'absolute node and llorch, the config quoted for its space',
    );
    assert.equal(service.get('Restart'), 'on-failure');
    assert.equal(service.get('KillMode'), 'mixed');
    assert.deepEqual(
      unit
        .get('Service')
        ?.filter(([k]) => k === 'Environment')
        .map(([, v]) => v),
      [
        '"ORCHD_BIND_ADDR=127.0.0.1:8090"',
        '"PATH=/usr/local/bin:/usr/bin:/bin"',
        `"POOL_MANAGERD_RUNTIME_DIR=${join(work, 'state')}"`,
      ],
    );
    assert.deepEqual(unit.get('Install'), [['WantedBy', 'default.target']]);
    assert.doesNotMatch(text, /k1,k2|hf_secret|client-key|UNRELATED/, 'no secret and nothing unrelated in the unit');
    const secrets = join(configHome, 'llama-orch', 'llorch-home.env');
    assert.equal(service.get('EnvironmentFile'), `-${secrets}`);
    assert.equal(readFileSync(secrets, 'utf8'), 'HF_TOKEN="hf_secret"\nORCHD_API_KEYS="k1,k2"\n');
    assert.equal(statSync(secrets).mode & 0o777, 0o600);

    if (systemdAnalyze) {
      const verify = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
      assert.equal(verify.status, 0, verify.stderr);
      assert.equal(verify.stderr.trim(), '', 'systemd-analyze verify has nothing to say about the unit');
    } else t.diagnostic('systemd-analyze is not installed (apt-get install systemd): the unit was parsed only');

    // Enabled as `systemctl enable` does it; uninstall undoes that too.
    const wants = join(configHome, 'systemd', 'user', 'default.target.wants', UNIT);
    mkdirSync(dirname(wants));
    symlinkSync(unitFile, wants);
    const removed = llorch(['service', 'uninstall'], env);
    assert.equal(removed.status, 0, removed.stderr);
    assert.match(
      removed.stdout,
      /removed .*llorch-home\.service\nStop it if it runs:\n {2}systemctl --user stop llorch-home\.service/,
    );
    assert.equal(existsSync(unitFile), false);
    assert.equal(existsSync(secrets), false);
    assert.throws(() => lstatSync(wants));
    const again = llorch(['service', 'uninstall'], env);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /nothing to remove/);
  });

  test('install checks the model or config now, so that the unit does not fail at boot', (t) => {
    const configHome = temp(t, 'llorch-xdg-');
    const env = { XDG_CONFIG_HOME: configHome, PATH: '/usr/bin:/bin' };
    const bad = llorch(['service', 'install', '--model', 'ollama:llama3'], env);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--model: must be "demo", file:<path>, hf:/);
    const missing = llorch(['service', 'install', '--config', join(configHome, 'absent.yaml')], env);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /absent\.yaml: file not found/);
    assert.equal(existsSync(join(configHome, 'systemd')), false, 'nothing written');
    assert.equal(llorch(['service', 'install', '--config', 'a.yaml', '--model', 'demo'], env).status, 2);

    const model = llorch(
      ['service', 'install', '--model', 'hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf'],
      env,
    );
    assert.equal(model.status, 0, model.stderr);
    const unit = readFileSync(join(configHome, 'systemd', 'user', UNIT), 'utf8');
    assert.match(
      unit,
      /^ExecStart=\S+ \S+ home --model hf:Qwen\/Qwen2\.5-0\.5B-Instruct-GGUF\/qwen2\.5-0\.5b-instruct-q4_k_m\.gguf$/m,
    );
    assert.doesNotMatch(unit, /EnvironmentFile=-.*\n[\s\S]*EnvironmentFile/);
    assert.equal(existsSync(join(configHome, 'llama-orch', 'llorch-home.env')), false, 'no secrets, no file');
  });

  test('--now runs systemctl --user where it is on PATH, and says so where it is not', (t) => {
    const configHome = temp(t, 'llorch-xdg-');
    const bin = temp(t, 'llorch-bin-');
    const calls = join(bin, 'calls');
    // A stand-in systemctl that records its arguments: the test must not touch the machine's user manager.
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> '${calls}'\necho "systemctl $*"\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const env = { XDG_CONFIG_HOME: configHome, PATH: bin };
    const installed = llorch(['service', 'install', '--now'], env);
    assert.equal(installed.status, 0, installed.stderr);
    assert.match(installed.stdout, /systemctl --user enable --now llorch-home\.service\n/);
    assert.match(readFileSync(join(configHome, 'systemd', 'user', UNIT), 'utf8'), /^ExecStart=\S+ \S+ home$/m);
    const removed = llorch(['service', 'uninstall', '--now'], env);
    assert.equal(removed.status, 0, removed.stderr);
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [
      '--user daemon-reload',
      '--user enable --now llorch-home.service',
      '--user disable --now llorch-home.service',
      '--user daemon-reload',
    ]);

    const none = llorch(['service', 'install', '--now'], { XDG_CONFIG_HOME: configHome, PATH: join(bin, 'empty') });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /--now needs systemctl, which is not on PATH/);
    assert.match(
      none.stdout,
      /systemctl --user daemon-reload && systemctl --user enable --now/,
      'the lines to run are shown',
    );
  });
});
