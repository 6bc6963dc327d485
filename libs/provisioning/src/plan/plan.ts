import { join } from 'node:path';
import { parseEngineSource, parseModelRef, type PoolConfig, type PoolKind } from '@llama-orch/contracts';
import type { HostFacts } from '../host/host-facts.ts';
import { buildCommand, cmakeDefines, compilerDefines, configureCommand } from '../engine/cmake-args.ts';
import { shortHash, sourceLayout, type SourceLayout } from '../engine/source-layout.ts';
import { llamaServerCommand } from '../launch/llama-server-args.ts';
import { modelLocation, type ModelLocation } from '../model/model-location.ts';
import { chooseDevice, type DeviceChoice, type Finding, type FindingCode } from './device.ts';

/** What the provisioner needs from a node config, with every path resolved. */
export interface ProvisionTarget {
  readonly nodeId: string;
  readonly cacheDir: string;
  readonly handoffDir: string;
  readonly engine: {
    readonly source: string;
    readonly device: 'auto' | 'cuda' | 'cpu';
    readonly cuda_architectures?: readonly string[] | undefined;
    readonly curl: boolean;
  };
  readonly pools: readonly PoolConfig[];
  readonly hfEndpoint: string;
  /** Replica ids are `<prefix><n>`: `r0`, `r1`, … by default; a reload starts a new generation (`g2-r0`). */
  readonly replicaPrefix?: string;
}

export interface PlanStep {
  readonly id: string;
  readonly description: string;
  readonly commands: readonly (readonly string[])[];
}

export interface PoolPlan {
  readonly pool: PoolConfig;
  readonly model: ModelLocation;
  readonly replicas: readonly {
    readonly replicaId: string;
    readonly argv: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    readonly handoff: string;
  }[];
}

export interface Plan {
  readonly nodeId: string;
  readonly source: SourceLayout;
  readonly device: DeviceChoice;
  /** Directory CMake builds in (kept between builds: incremental rebuilds). */
  readonly buildDir: string;
  readonly defines: readonly string[];
  /** The build's identity before the source commit is known; the cache key adds the commit. */
  readonly buildId: string;
  readonly steps: readonly PlanStep[];
  readonly pools: readonly PoolPlan[];
  readonly findings: readonly Finding[];
}

function toolFindings(host: HostFacts, source: SourceLayout, device: DeviceChoice): Finding[] {
  const missing = (code: FindingCode, what: string): Finding => ({
    level: 'error',
    code,
    message: `${what} not found: install it (e.g. apt-get install ${what})`,
  });
  const findings: Finding[] = [];
  if (source.mode !== 'binary') {
    if (host.cmake === null) findings.push(missing('CMAKE_MISSING', 'cmake'));
    if (host.cxx === null || host.cc === null) findings.push(missing('COMPILER_MISSING', 'g++'));
  }
  if (source.mode === 'npm' || source.mode === 'git') {
    if (host.git === null) findings.push(missing('GIT_MISSING', 'git'));
  }
  if (source.mode === 'npm') {
    if (host.npm === null) findings.push(missing('NPM_MISSING', 'npm'));
    if (host.tar === null) findings.push(missing('TAR_MISSING', 'tar'));
  }
  if (source.mode === 'binary' && device.requested === 'cuda') {
    findings.push({
      level: 'info',
      code: 'BINARY_DEVICE',
      message: 'binary source: llama-server is used as built; it must have been built with CUDA',
    });
  }
  return findings;
}

/** "embedding " or "rerank " before the demo model's name; nothing for the completion model. */
const demoKindLabel = (kind: PoolKind | undefined): string =>
  kind === undefined || kind === 'completion' ? '' : `${kind} `;

/** The version-independent identity of the compilers that build llama.cpp. */
export function compilerIdentity(host: HostFacts, device: DeviceChoice): string[] {
  const ids = [host.cc?.version ?? 'no-cc', host.cxx?.version ?? 'no-cxx'];
  if (device.chosen === 'cuda') ids.push(host.cuda.nvcc?.version ?? 'no-nvcc');
  return ids;
}

/** Plan everything `up` would do; executes nothing and is the same for the same inputs. */
export function buildPlan(target: ProvisionTarget, host: HostFacts, selectedPools?: readonly string[]): Plan {
  const parsedSource = parseEngineSource(target.engine.source);
  if (!parsedSource.ok) throw new Error(`engine.source: ${parsedSource.message}`);
  const source = sourceLayout(parsedSource.value, target.cacheDir);
  const device = chooseDevice(target.engine.device, host, target.engine.cuda_architectures);
  const defines = cmakeDefines({ device, curl: target.engine.curl, host });
  const buildId = shortHash(JSON.stringify([source.identity, defines, compilerIdentity(host, device)]));
  const buildDir = join(target.cacheDir, 'builds', buildId);
  const binary = source.binary ?? join(target.cacheDir, 'engines', '<key>', 'llama-server');

  const steps: PlanStep[] = [];
  if (source.sourceDir !== null) {
    if (source.fetch.length > 0) {
      steps.push({
        id: 'fetch-source',
        description: `fetch ${source.identity} into ${source.sourceDir} (skipped when present)`,
        commands: source.fetch,
      });
    }
    steps.push(
      {
        id: 'configure',
        description: `configure llama.cpp for ${device.chosen} (${device.reason})`,
        commands: [configureCommand(source.sourceDir, buildDir, { device, curl: target.engine.curl, host })],
      },
      {
        id: 'build',
        description: 'build llama-server (log in <cache>/logs; skipped on a cache hit)',
        commands: [buildCommand(buildDir, Math.max(1, host.cpuCount))],
      },
      {
        id: 'install',
        description: `copy llama-server to ${join(target.cacheDir, 'engines', '<key>')}, key = sha256(source commit, defines, compilers)`,
        commands: [],
      },
    );
  }

  const wanted = selectedPools === undefined ? target.pools : target.pools.filter((p) => selectedPools.includes(p.id));
  const missingPools = (selectedPools ?? []).filter((id) => !target.pools.some((p) => p.id === id));
  const findings = [...toolFindings(host, source, device), ...device.findings];
  for (const id of missingPools)
    findings.push({ level: 'error', code: 'UNKNOWN_POOL', message: `no pool "${id}" in the config` });

  const pools: PoolPlan[] = wanted.map((pool) => {
    const ref = parseModelRef(pool.model);
    if (!ref.ok) throw new Error(`pools.${pool.id}.model: ${ref.message}`);
    const model = modelLocation(ref.value, target.cacheDir, source.identity, target.hfEndpoint, pool.kind);
    const replicas = Array.from({ length: pool.replicas }, (_, i) => {
      const replicaId = `${target.replicaPrefix ?? 'r'}${i}`;
      const command = llamaServerCommand(
        {
          binary,
          modelPath: model.path,
          ctx: pool.ctx,
          slots: pool.slots,
          device: device.chosen,
          gpus: pool.gpus ?? [],
          kind: pool.kind,
          pooling: pool.pooling,
        },
        '{port}',
      );
      return {
        replicaId,
        argv: command.argv,
        env: command.env,
        handoff: join(target.handoffDir, `${pool.id}-${replicaId}.json`),
      };
    });
    const fetch =
      model.kind === 'demo'
        ? `write the demo ${demoKindLabel(model.model)}GGUF (seed ${model.seed}) to ${model.path}`
        : model.kind === 'download'
          ? `download ${model.url} to ${model.path}${pool.sha256 ? `, check sha256 ${pool.sha256}` : ''}`
          : `use ${model.path}${pool.sha256 ? `, check sha256 ${pool.sha256}` : ''}`;
    steps.push({ id: `model:${pool.id}`, description: `${fetch}; check it is GGUF`, commands: [] });
    for (const replica of replicas) {
      steps.push({
        id: `launch:${pool.id}-${replica.replicaId}`,
        description: `start the engine, wait for /health, write ${replica.handoff}`,
        commands: [replica.argv],
      });
    }
    return { pool, model, replicas };
  });

  if (device.chosen === 'cuda') {
    for (const pool of wanted) {
      for (const gpu of pool.gpus ?? []) {
        if (host.gpus.length > 0 && !host.gpus.some((g) => g.index === gpu)) {
          findings.push({
            level: 'error',
            code: 'UNKNOWN_GPU',
            message: `pools.${pool.id}.gpus: GPU ${gpu} does not exist (nvidia-smi lists ${host.gpus.map((g) => g.index).join(', ')})`,
          });
        }
      }
    }
  }
  return {
    nodeId: target.nodeId,
    source,
    device,
    buildDir,
    defines: [...defines, ...compilerDefines(host, device)],
    buildId,
    steps,
    pools,
    findings,
  };
}

/** The plan as the JSON that `engine-provisioner plan` prints. */
export function planToJson(plan: Plan): Record<string, unknown> {
  return {
    node_id: plan.nodeId,
    engine: {
      source: plan.source.identity,
      provisioning_mode: plan.source.mode,
      source_dir: plan.source.sourceDir,
      build_dir: plan.source.sourceDir === null ? null : plan.buildDir,
      device: { requested: plan.device.requested, chosen: plan.device.chosen, reason: plan.device.reason },
      cuda_architectures: plan.device.cudaArchitectures,
    },
    steps: plan.steps.map((s) => ({ id: s.id, description: s.description, commands: s.commands })),
    pools: plan.pools.map((p) => ({
      id: p.pool.id,
      kind: p.pool.kind ?? 'completion',
      model: p.pool.model,
      model_path: p.model.path,
      replicas: p.replicas.map((r) => ({ replica_id: r.replicaId, argv: r.argv, env: r.env, handoff: r.handoff })),
    })),
    findings: plan.findings,
    ok: !plan.findings.some((f) => f.level === 'error'),
  };
}
