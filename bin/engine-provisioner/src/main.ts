import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { loadNodeConfig } from '@llama-orch/config';
import {
  DEFAULT_HF_ENDPOINT,
  EngineProvisioner,
  StoppedError,
  buildPlan,
  detectHostFacts,
  planToJson,
  type ProvisionTarget,
} from '@llama-orch/provisioning';
import { applyGpuMask, checkDirectories, maskPools, parseCli, USAGE, type ProvisionerCli } from './config.ts';
import { downloadLine, ProgressLine } from './progress.ts';

async function target(cli: ProvisionerCli): Promise<ProvisionTarget> {
  const loaded = await loadNodeConfig(cli.configFile);
  if (!loaded.ok) throw new Error(loaded.message);
  const config = loaded.value;
  const cacheDir = cli.cacheDir === undefined ? config.cache_dir : resolve(cli.cacheDir);
  return {
    nodeId: config.node_id,
    cacheDir,
    handoffDir: cli.handoffDir === undefined ? join(config.runtime_dir, 'engines') : resolve(cli.handoffDir),
    engine: config.engine,
    pools: maskPools(config.pools, cli.gpuMask),
    hfEndpoint: cli.hfEndpoint ?? DEFAULT_HF_ENDPOINT,
  };
}

/** A variable whose value cannot work on this host: named, with the usage, and exit code 2 like a bad format. */
function badEnvironment(message: string): number {
  process.stderr.write(`engine-provisioner: bad environment: ${message}\n\n${USAGE}`);
  return 2;
}

async function plan(cli: ProvisionerCli): Promise<number> {
  const host = applyGpuMask(await detectHostFacts(cli.env), cli.gpuMask);
  if (!host.ok) return badEnvironment(host.message);
  const result = buildPlan(await target(cli), host.value, cli.pools);
  process.stdout.write(`${JSON.stringify(planToJson(result), null, 2)}\n`);
  return 0;
}

async function up(cli: ProvisionerCli): Promise<number> {
  const directories = await checkDirectories(cli);
  if (directories !== null) return badEnvironment(directories);
  const masked = applyGpuMask(await detectHostFacts(cli.env), cli.gpuMask);
  if (!masked.ok) return badEnvironment(masked.message);
  const host = masked.value;
  const logger = pino({ name: 'engine-provisioner' }, pino.destination(2));
  const line = new ProgressLine(process.stderr);
  const provisioner = new EngineProvisioner(await target(cli), {
    host,
    env: cli.env,
    logger,
    healthTimeoutMs: cli.healthTimeoutMs,
    hfToken: cli.hfToken,
    ...(cli.pools ? { pools: cli.pools } : {}),
    events: {
      onProgress: (phase, percent) => line.update(`llama.cpp ${phase}${percent === null ? '' : ` ${percent}%`}`),
      onLog: (message) => line.done(message),
      onDownload: (poolId, progress) => line.update(downloadLine(poolId, progress)),
      onReplica: (poolId, replicaId, state) => {
        if (state === 'running') line.done(`engine ${poolId}-${replicaId} ready`);
      },
    },
  });

  const control: { stopping: Promise<void> | null } = { stopping: null };
  const stopRequested = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (control.stopping !== null) return;
      logger.info({ signal }, 'stopping engines');
      line.done();
      control.stopping = provisioner.stop();
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await provisioner.start();
  } catch (error) {
    line.done();
    if (error instanceof StoppedError) {
      await control.stopping;
      return 0;
    }
    await provisioner.stop();
    // The JSON line carries the stable code (err.code, and err.findings of a refused plan) for programs.
    logger.error({ err: error }, 'provisioning failed');
    process.stderr.write(`engine-provisioner: ${(error as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`engine-provisioner: ${provisioner.replicas.length} engine(s) running; Ctrl-C stops them\n`);
  await stopRequested;
  await control.stopping;
  return 0;
}

async function main(): Promise<number> {
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const outcome = parseCli(process.argv.slice(2), process.env);
  if (outcome.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (outcome.kind === 'error') {
    process.stderr.write(`engine-provisioner: ${outcome.message}\n\n${USAGE}`);
    return 2;
  }
  try {
    return outcome.cli.command === 'plan' ? await plan(outcome.cli) : await up(outcome.cli);
  } catch (error) {
    process.stderr.write(`engine-provisioner: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main();
