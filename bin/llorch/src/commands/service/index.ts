import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readlink, rm, writeFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadNodeConfig } from '@llama-orch/config';
import { parseModelRef } from '@llama-orch/contracts';
import type { LlorchEnv } from '../../config.ts';
import { commandEnv, type CommandEnv } from '../command-env.ts';
import { terminal } from '../output.ts';
import { environmentFileLine, renderUnit, UNIT_NAME } from './systemd-unit.ts';

export interface ServiceOptions {
  readonly action: 'install' | 'uninstall';
  readonly config: string | undefined;
  readonly model: string | undefined;
  /** Also run the systemctl lines (only where systemctl is found on PATH). */
  readonly now: boolean;
}

const LLORCH_SCRIPT = fileURLToPath(new URL('../../../bin/llorch.js', import.meta.url));

/** Variables `llorch home` and its daemons read, carried into the unit as they are set now. */
const CARRIED = /^(ORCHD|POOL_MANAGERD|ENGINE_PROVISIONER|OTEL|HF|CUDA)_[A-Z0-9_]+$/;
const CARRIED_NAMES = new Set(['PATH', 'LD_LIBRARY_PATH', 'LOG_LEVEL', 'NODE_EXTRA_CA_CERTS']);
/** Secrets go to a file only the user can read, never into the unit (which `systemctl cat` shows to anyone). */
const SECRETS = new Set(['ORCHD_API_KEYS', 'HF_TOKEN']);

interface Paths {
  readonly unit: string;
  readonly wants: string;
  readonly environmentFile: string;
}

function pathsOf(vars: CommandEnv): Paths {
  const unitDir = join(vars.configHome, 'systemd', 'user');
  return {
    unit: join(unitDir, UNIT_NAME),
    wants: join(unitDir, 'default.target.wants', UNIT_NAME),
    environmentFile: join(vars.configHome, 'llama-orch', 'llorch-home.env'),
  };
}

async function findSystemctl(vars: CommandEnv): Promise<string | null> {
  for (const dir of vars.path) {
    const candidate = join(dir, 'systemctl');
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return null;
}

/** `llorch home`'s flags for the unit: the config or model, checked now so that the unit does not fail at boot. */
async function homeFlags(
  env: LlorchEnv,
  options: ServiceOptions,
): Promise<{ ok: true; flags: string[] } | { ok: false; message: string }> {
  if (options.model !== undefined) {
    const ref = parseModelRef(options.model);
    if (ref.ok && ref.value.kind === 'file' && !isAbsolute(ref.value.path))
      return { ok: true, flags: ['--model', `file:${resolve(ref.value.path)}`] };
    if (ref.ok) return { ok: true, flags: ['--model', options.model] };
    if (/\.gguf$/i.test(options.model) || options.model.includes('/'))
      return { ok: true, flags: ['--model', resolve(options.model)] };
    return { ok: false, message: `--model: ${ref.message}` };
  }
  const config = options.config ?? env.poolConfig;
  if (config === undefined) return { ok: true, flags: [] };
  const loaded = await loadNodeConfig(config);
  if (!loaded.ok) return { ok: false, message: `--config: ${loaded.message}` };
  return { ok: true, flags: ['--config', resolve(config)] };
}

/**
 * `llorch service install|uninstall`: a systemd user unit that runs `llorch home` (this node, this llorch, the
 * config or model given, the daemons' variables as set now), restarted on failure and started at login — or at
 * boot with lingering. Prints the systemctl lines; runs them with --now where systemctl is found.
 */
export async function service(env: LlorchEnv, options: ServiceOptions): Promise<number> {
  const { stderr } = terminal();
  const vars = commandEnv(env);
  if (!vars.ok) {
    stderr.write(`llorch service: ${vars.message}\n`);
    return 2;
  }
  return options.action === 'install' ? install(env, options, vars.value) : uninstall(options, vars.value);
}

async function install(env: LlorchEnv, options: ServiceOptions, vars: CommandEnv): Promise<number> {
  const { stdout, stderr } = terminal();
  const flags = await homeFlags(env, options);
  if (!flags.ok) {
    stderr.write(`llorch service install: ${flags.message}\n`);
    return 2;
  }
  const paths = pathsOf(vars);
  const set = Object.entries(env.env)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && (CARRIED.test(e[0]) || CARRIED_NAMES.has(e[0])))
    .sort(([a], [b]) => a.localeCompare(b));
  const secrets = set.filter(([name]) => SECRETS.has(name));
  const command = [process.execPath, LLORCH_SCRIPT, 'home', ...flags.flags];
  await mkdir(join(paths.unit, '..'), { recursive: true });
  await writeFile(
    paths.unit,
    renderUnit({
      command,
      workingDirectory: homedir(),
      environment: set.filter(([name]) => !SECRETS.has(name)),
      environmentFile: paths.environmentFile,
      writtenAt: new Date(),
    }),
  );
  const lines = [`wrote ${paths.unit}`, `  runs: ${command.join(' ')}`];
  if (secrets.length > 0) {
    await mkdir(join(paths.environmentFile, '..'), { recursive: true, mode: 0o700 });
    await writeFile(paths.environmentFile, secrets.map(([n, v]) => `${environmentFileLine(n, v)}\n`).join(''), {
      mode: 0o600,
    });
    lines.push(`wrote ${paths.environmentFile} (mode 600): ${secrets.map(([n]) => n).join(', ')}`);
  }
  const enable = [['daemon-reload'], ['enable', '--now', UNIT_NAME]];
  lines.push(
    '',
    options.now ? 'Starting it now and at every login:' : 'Start it now and at every login:',
    `  ${enable.map((a) => `systemctl --user ${a.join(' ')}`).join(' && ')}`,
    'Start it at boot, without a login (once):',
    `  sudo loginctl enable-linger ${userInfo().username}`,
    `Its output: journalctl --user -u ${UNIT_NAME} -f, or npx llorch logs --follow`,
    '',
  );
  stdout.write(lines.join('\n'));
  return options.now ? systemctl(vars, enable) : 0;
}

async function uninstall(options: ServiceOptions, vars: CommandEnv): Promise<number> {
  const { stdout } = terminal();
  const paths = pathsOf(vars);
  const installed = await access(paths.unit).then(
    () => true,
    () => false,
  );
  if (!installed) {
    stdout.write(`no ${UNIT_NAME} in ${join(paths.unit, '..')}: nothing to remove\n`);
    return 0;
  }
  let code = 0;
  if (options.now) code = await systemctl(vars, [['disable', '--now', UNIT_NAME]]);
  // What `systemctl disable` does, for a unit removed without --now: the login no longer starts it.
  const link = await readlink(paths.wants).catch(() => null);
  if (link !== null && (link === paths.unit || link.endsWith(`/${UNIT_NAME}`))) await rm(paths.wants, { force: true });
  await rm(paths.unit, { force: true });
  await rm(paths.environmentFile, { force: true });
  stdout.write(`removed ${paths.unit}\n`);
  if (options.now) return (await systemctl(vars, [['daemon-reload']])) || code;
  stdout.write(`Stop it if it runs:\n  systemctl --user stop ${UNIT_NAME} && systemctl --user daemon-reload\n`);
  return 0;
}

/** Run `systemctl --user …` lines in order, their output shown; stops at the first that fails. */
async function systemctl(vars: CommandEnv, runs: readonly (readonly string[])[]): Promise<number> {
  const { stdout, stderr } = terminal();
  const binary = await findSystemctl(vars);
  if (binary === null) {
    stderr.write('llorch service: --now needs systemctl, which is not on PATH; run the lines above where it is.\n');
    return 1;
  }
  for (const args of runs) {
    const line = ['--user', ...args];
    try {
      const { stdout: out, stderr: err } = await promisify(execFile)(binary, line, { timeout: 60_000 });
      stdout.write(out);
      stderr.write(err);
    } catch (error) {
      const failed = error as Error & { stderr?: string };
      stderr.write(`llorch service: systemctl ${line.join(' ')} failed: ${failed.stderr?.trim() || failed.message}\n`);
      return 1;
    }
  }
  return 0;
}
