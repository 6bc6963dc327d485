import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { PoolListSchema, validate } from '@llama-orch/contracts';
import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { Daemon, daemonScript, isErrorLine, type LogLine } from './daemon.ts';
import { failureCodes } from './failure-codes.ts';
import { homeConfig } from './home-config.ts';
import { hintFor, readyMessage } from './messages.ts';

export interface HomeOptions {
  readonly config?: string | undefined;
  readonly model?: string | undefined;
}

const out = (text: string): void => void process.stdout.write(`${text}\n`);
const str = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '?');

/** Turn the daemons' JSON logs into the lines a person wants to see while it starts. */
function narrate(name: string, line: LogLine, progress: (text: string) => void): void {
  const msg = line.msg ?? '';
  if (msg === 'llama.cpp progress' && line['phase'] === 'fetch') return;
  if (msg === 'llama.cpp progress')
    progress(
      `llama.cpp ${str(line['phase'])}${line['percent'] === null ? '' : ` ${str(line['percent'])}%`} (first run only: cached afterwards)`,
    );
  else if (msg === 'model download') {
    const mb = (n: unknown) => (typeof n === 'number' ? (n / 1024 / 1024).toFixed(1) : '?');
    progress(
      `model ${str(line['pool_id'])}: ${mb(line['bytes'])}/${mb(line['total'])} MB at ${mb(line['bytes_per_s'])} MB/s, ETA ${str(line['eta_s'])} s`,
    );
  } else if (
    msg.startsWith('building llama-server') ||
    msg.startsWith('built llama-server') ||
    msg.includes('from the cache')
  )
    progress(msg);
  else if (/^pool \S+ \S+ → (ready|failed)$/.test(msg))
    progress(`${msg}${line['reason'] ? ` (${str(line['reason']).slice(0, 200)})` : ''}`);
  else if (isErrorLine(line))
    progress(`${name}: ${msg}${line['err'] ? `: ${String((line['err'] as { message?: string }).message ?? '')}` : ''}`);
}

async function listening(daemon: Daemon, url: Promise<string>): Promise<string | null> {
  return Promise.race([url, daemon.exited.then(() => null)]);
}

/**
 * `llorch home`: pool-managerd (with its engines in-process) and orchestratord on this machine, loopback only,
 * as one supervised process tree. Ctrl-C or SIGTERM stops everything; a second instance refuses.
 */
export async function home(env: LlorchEnv, options: HomeOptions): Promise<number> {
  const started = Date.now();
  await mkdir(env.stateDir, { recursive: true });
  const marker = join(env.stateDir, 'llorch-home');
  await writeFile(marker, '', { flag: 'a' });
  let release: () => Promise<void>;
  try {
    // A lost lock (its directory removed) must not crash the supervisor and orphan the engines.
    release = await lockfile.lock(marker, { stale: 10_000, update: 2_000, onCompromised: () => undefined });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    process.stderr.write(
      `llorch home is already running for ${env.stateDir}: use \`npx llorch status\`, or stop it with Ctrl-C in its terminal.\n`,
    );
    return 1;
  }
  const config = await homeConfig(env.stateDir, options.config ?? env.poolConfig, options.model);
  if (!config.ok) {
    await release().catch(() => undefined);
    process.stderr.write(`llorch home: ${config.message}\n`);
    return 1;
  }
  out(
    `llama-orch HOME: ${config.value.demo ? 'the demo pool' : config.value.pools.map((p) => `${p.id} (${p.model})`).join(', ')} — config ${config.value.file}`,
  );
  const progress = (text: string): void => out(`  ${text}`);
  /** The codes pool-managerd logged with each pool's failure (its error lines bound to a pool_id). */
  const poolFailures = new Map<string, readonly string[]>();

  let resolvePm: (url: string) => void = () => undefined;
  const pmUrl = new Promise<string>((resolve) => (resolvePm = resolve));
  const poolManagerd = new Daemon(
    'pool-managerd',
    daemonScript('@llama-orch/pool-managerd', 'pool-managerd'),
    {
      ...env.env,
      LLORCH_CONFIG: config.value.file,
      POOL_MANAGERD_BIND_ADDR: env.poolManagerdBind,
      POOL_MANAGERD_PROFILE: 'home',
    },
    (line) => {
      if (line.msg === 'pool-managerd listening') resolvePm(str(line['url']));
      const poolId = line['pool_id'];
      const codes = isErrorLine(line) ? failureCodes(line) : [];
      if (typeof poolId === 'string' && codes.length > 0) poolFailures.set(poolId, codes);
      narrate('pool-managerd', line, progress);
    },
  );
  const daemons: Daemon[] = [poolManagerd];
  let stopping = false;
  const shutdown = async (): Promise<void> => {
    stopping = true;
    for (const daemon of [...daemons].reverse()) await daemon.stop(daemon === poolManagerd ? 15_000 : 5_000);
    await release().catch(() => undefined);
  };
  const fail = async (daemon: Daemon, what: string, codes = daemon.failureCodes): Promise<number> => {
    const stderr = daemon.stderr;
    process.stderr.write(`llorch home: ${what}\n${stderr ? `${stderr}\n` : ''}${hintFor(codes)}\n`);
    await shutdown();
    return 1;
  };
  const stopRequested = new Promise<'signal'>((resolve) => {
    const onSignal = (): void => resolve('signal');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });

  const pm = await Promise.race([listening(poolManagerd, pmUrl), stopRequested]);
  if (pm === 'signal') return shutdown().then(() => 0);
  if (pm === null) return fail(poolManagerd, 'pool-managerd stopped while starting');

  let resolveOrch: (url: string) => void = () => undefined;
  const orchUrl = new Promise<string>((resolve) => (resolveOrch = resolve));
  const orchestratord = new Daemon(
    'orchestratord',
    daemonScript('@llama-orch/orchestratord', 'orchestratord'),
    { ...env.env, ORCHD_POOL_MANAGERS: pm, ORCHD_BIND_ADDR: env.orchdBind, ORCHD_PROFILE: 'home' },
    (line) => {
      if (line.msg === 'orchestratord listening') resolveOrch(str(line['url']));
      narrate('orchestratord', line, progress);
    },
  );
  daemons.push(orchestratord);
  const orch = await Promise.race([listening(orchestratord, orchUrl), stopRequested]);
  if (orch === 'signal') return shutdown().then(() => 0);
  if (orch === null) return fail(orchestratord, 'orchestratord stopped while starting');

  const wanted = new Set(config.value.pools.map((p) => p.id));
  for (;;) {
    if (!poolManagerd.running) return fail(poolManagerd, 'pool-managerd stopped while its engines were starting');
    const answer = await request(`${orch}/v2/pools`).catch(() => null);
    const list = answer === null ? null : validate(PoolListSchema, await answer.body.json().catch(() => null));
    const pools = list?.ok === true ? list.value.pools : [];
    const failed = pools.find((p) => wanted.has(p.pool_id) && p.state === 'failed');
    if (failed)
      return fail(
        poolManagerd,
        `pool ${failed.pool_id} failed: ${failed.last_error ?? 'unknown error'}`,
        poolFailures.get(failed.pool_id) ?? poolManagerd.failureCodes,
      );
    if ([...wanted].every((id) => pools.some((p) => p.pool_id === id && p.ready))) break;
    const outcome = await Promise.race([sleep(250).then(() => 'tick' as const), stopRequested]);
    if (outcome === 'signal') return shutdown().then(() => 0);
  }
  out(readyMessage(orch, config.value, (Date.now() - started) / 1000));

  const ended = await Promise.race([stopRequested, ...daemons.map((d) => d.exited.then(() => d))]);
  if (ended === 'signal' || stopping) {
    out('stopping llama-orch…');
    await shutdown();
    out('stopped.');
    return 0;
  }
  return fail(ended, `${ended.name} stopped unexpectedly`);
}
