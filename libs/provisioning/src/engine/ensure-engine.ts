import { createHash } from 'node:crypto';
import { access, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { HostFacts } from '../host/host-facts.ts';
import { exec } from '../exec.ts';
import type { Plan } from '../plan/plan.ts';
import { compilerIdentity } from '../plan/plan.ts';
import { buildCommand, configureCommand } from './cmake-args.ts';
import { EngineBuildError, tail, type EngineBuildErrorCode } from './build-error.ts';
import { ProvisioningError } from '../errors.ts';
import { buildPercent } from './progress.ts';
import { shortHash, type SourceLayout } from './source-layout.ts';

export interface EngineEvents {
  readonly onProgress?: (phase: 'fetch' | 'configure' | 'build', percent: number | null) => void;
  readonly onLog?: (message: string) => void;
  /** Aborting stops a running fetch or build (its process is killed); nothing is cached. */
  readonly signal?: AbortSignal;
}

/** The provisioner was stopped while it was still preparing. */
export class StoppedError extends ProvisioningError {
  constructor(what: string) {
    super('PROV_STOPPED', `stopped during ${what}`);
    this.name = 'StoppedError';
  }
}

/** A ready llama-server binary and what it is. */
export interface EngineBinary {
  readonly path: string;
  readonly version: string;
  readonly key: string | null;
  readonly commit: string | null;
  readonly cached: boolean;
}

const exists = (path: string): Promise<boolean> =>
  access(path, constants.F_OK).then(
    () => true,
    () => false,
  );

/** Hold an exclusive lock on `name` under the cache while `work` runs; a dead holder's lock goes stale. */
async function withLock<T>(cacheDir: string, name: string, work: () => Promise<T>): Promise<T> {
  const locks = join(cacheDir, 'locks');
  await mkdir(locks, { recursive: true });
  const target = join(locks, name);
  await writeFile(target, '', { flag: 'a' });
  const release = await lockfile.lock(target, {
    // A lost lock must never crash the process that holds engines; the build itself is still atomic.
    onCompromised: () => undefined,
    stale: 20_000,
    update: 5_000,
    retries: { retries: 3600, minTimeout: 500, maxTimeout: 1000 },
  });
  try {
    return await work();
  } finally {
    await release().catch(() => undefined);
  }
}

async function run(
  argv: readonly string[],
  logFile: string,
  what: string,
  code: EngineBuildErrorCode,
  onLine?: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const [command, ...args] = argv;
  if (command === undefined) return;
  await writeFile(logFile, `$ ${argv.join(' ')}\n`, { flag: 'a' });
  let result;
  try {
    result = await exec(command, args, { logFile, ...(onLine ? { onLine } : {}), ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted === true) throw new StoppedError(what);
    throw new EngineBuildError(code, `${what}: cannot run ${command}: ${(error as Error).message}`, logFile, '');
  }
  if (signal?.aborted === true) throw new StoppedError(what);
  if (result.code !== 0) {
    throw new EngineBuildError(
      code,
      `${what} failed (${command} exited ${result.code ?? result.signal})`,
      logFile,
      tail(`${result.stdout}\n${result.stderr}`),
    );
  }
}

/** Fetch the source into its cache directory once; a failed fetch leaves nothing behind. */
export async function ensureSourceTree(source: SourceLayout, cacheDir: string, signal?: AbortSignal): Promise<void> {
  if (source.sourceDir === null) return;
  const logs = join(cacheDir, 'logs');
  await mkdir(logs, { recursive: true });
  await withLock(cacheDir, `source-${shortHash(source.identity)}`, () =>
    ensureSource(source, cacheDir, join(logs, `fetch-${shortHash(source.identity)}.log`), signal),
  );
}

async function ensureSource(
  source: SourceLayout,
  cacheDir: string,
  logFile: string,
  signal?: AbortSignal,
): Promise<void> {
  if (source.sourceDir === null) return;
  if (await exists(join(source.sourceDir, 'CMakeLists.txt'))) return;
  if (source.fetch.length === 0)
    throw new EngineBuildError(
      'PROV_SOURCE_INVALID',
      `${source.sourceDir} is not a llama.cpp source tree (no CMakeLists.txt)`,
      null,
      '',
    );
  const scratch = join(cacheDir, 'tmp');
  await mkdir(scratch, { recursive: true });
  const tmp = await mkdtemp(join(scratch, 'fetch-'));
  try {
    for (const step of source.fetch)
      await run(
        step.map((arg) => arg.replaceAll('{tmp}', tmp)),
        logFile,
        `fetching ${source.identity}`,
        'PROV_SOURCE_FETCH_FAILED',
        undefined,
        signal,
      );
    await mkdir(join(source.sourceDir, '..'), { recursive: true });
    await rename(join(tmp, 'src'), source.sourceDir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function gitCommit(dir: string): Promise<string> {
  const result = await exec('git', ['-C', dir, 'rev-parse', 'HEAD']).catch(() => null);
  return result?.code === 0 ? result.stdout.trim() : 'not-a-git-tree';
}

/** `llama-server --version` → e.g. "version: 1 (de3ff81)"; the engine_version of handoffs. */
export async function probeEngineVersion(binary: string): Promise<string> {
  const result = await exec(binary, ['--version']).catch((error: Error) => {
    throw new EngineBuildError('PROV_ENGINE_UNUSABLE', `${binary} cannot run: ${error.message}`, null, '');
  });
  const text = `${result.stdout}\n${result.stderr}`;
  const line = text.split('\n').find((l) => l.startsWith('version:'));
  if (result.code !== 0 || line === undefined)
    throw new EngineBuildError('PROV_ENGINE_UNUSABLE', `${binary} --version did not print a version`, null, tail(text));
  // "version: 0.5.0-dev (build 1, commit de3ff81)" (recent) or "version: 6500 (a1b2c3d)" (older releases)
  const recent = /version:\s*(\S+)\s*\(build \d+, commit ([0-9a-f]+)\)/.exec(line);
  if (recent) return `${recent[1]}+${recent[2]}`;
  const match = /version:\s*(\d+)\s*\(([0-9a-f]+)\)/.exec(line);
  return match ? `b${match[1]}+${match[2]}` : line.replace('version:', '').trim();
}

/**
 * Make sure the planned llama-server exists: from the cache (key = source commit + defines + compilers),
 * else fetched and built under a lock so two provisioners build it once.
 */
export async function ensureEngine(
  plan: Plan,
  cacheDir: string,
  host: HostFacts,
  events: EngineEvents = {},
): Promise<EngineBinary> {
  const { source } = plan;
  if (source.binary !== null) {
    return {
      path: source.binary,
      version: await probeEngineVersion(source.binary),
      key: null,
      commit: null,
      cached: true,
    };
  }
  const logs = join(cacheDir, 'logs');
  await mkdir(logs, { recursive: true });
  const logFile = join(logs, `build-${plan.buildId}.log`);

  return withLock(cacheDir, `build-${plan.buildId}`, async () => {
    events.onProgress?.('fetch', null);
    await ensureSourceTree(source, cacheDir, events.signal);
    const sourceDir = source.sourceDir ?? '';
    const commit = await gitCommit(sourceDir);
    const key = createHash('sha256')
      .update(
        JSON.stringify([
          commit,
          plan.defines.filter((d) => !d.includes('_COMPILER=')),
          compilerIdentity(host, plan.device),
        ]),
      )
      .digest('hex')
      .slice(0, 24);
    const installDir = join(cacheDir, 'engines', key);
    const installed = join(installDir, 'llama-server');
    if (await exists(join(installDir, 'manifest.json'))) {
      const manifest = JSON.parse(await readFile(join(installDir, 'manifest.json'), 'utf8')) as {
        engine_version: string;
      };
      events.onLog?.(`llama-server ${manifest.engine_version} from the cache (${installDir})`);
      return { path: installed, version: manifest.engine_version, key, commit, cached: true };
    }

    const started = Date.now();
    await writeFile(logFile, `# build ${key} of ${source.identity} at ${commit}\n`);
    events.onLog?.(`building llama-server for ${plan.device.chosen} (log: ${logFile})`);
    events.onProgress?.('configure', null);
    await run(
      configureCommand(sourceDir, plan.buildDir, {
        device: plan.device,
        curl: plan.defines.includes('-DLLAMA_CURL=ON'),
        host,
      }),
      logFile,
      'cmake configure',
      'PROV_BUILD_FAILED',
      undefined,
      events.signal,
    );
    let last = -1;
    await run(
      buildCommand(plan.buildDir, Math.max(1, host.cpuCount)),
      logFile,
      'cmake build',
      'PROV_BUILD_FAILED',
      (line) => {
        const percent = buildPercent(line);
        if (percent !== null && percent !== last) {
          last = percent;
          events.onProgress?.('build', percent);
        }
      },
      events.signal,
    );

    const built = join(plan.buildDir, 'bin', 'llama-server');
    if (!(await exists(built)))
      throw new EngineBuildError('PROV_BUILD_FAILED', `the build finished but ${built} does not exist`, logFile, '');
    const version = await probeEngineVersion(built);
    await mkdir(join(cacheDir, 'engines'), { recursive: true });
    const staging = await mkdtemp(join(cacheDir, 'engines', `.${key}-`));
    try {
      await copyFile(built, join(staging, 'llama-server'), constants.COPYFILE_FICLONE);
      const manifest = {
        key,
        source: source.identity,
        commit,
        device: plan.device.chosen,
        defines: plan.defines,
        compilers: compilerIdentity(host, plan.device),
        engine_version: version,
        build_seconds: Math.round((Date.now() - started) / 1000),
      };
      await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(staging, installDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    events.onLog?.(`built llama-server ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
    return { path: installed, version, key, commit, cached: false };
  });
}
