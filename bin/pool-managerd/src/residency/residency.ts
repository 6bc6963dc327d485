import { setTimeout as sleep } from 'node:timers/promises';
import { errorEnvelope, type ErrorEnvelope, type LoadResponse, type PoolConfig } from '@llama-orch/contracts';
import { provisioningCode, type GpuInfo } from '@llama-orch/provisioning';
import type { Counter } from 'prom-client';
import type { Logger } from 'pino';
import type { InProcessPools } from '../provisioning/in-process-pools.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import type { LoadProgressEntry } from '../registry/pool-state.ts';
import type { SlotLedger } from '../slots/slot-ledger.ts';
import { planRoom, type Domain, type ResidentPool } from './room.ts';

/** What a pool loaded on demand waits this long without being told otherwise (PoolConfig.idle_unload_s absent). */
export const DEFAULT_IDLE_UNLOAD_S = 300;
/**
 * A pool counts as idle (unloadable to make room) only this long after its last slot was claimed or released:
 * orchestratord sends a queued task the moment a slot frees (measured: the next dispatch arrives within a few
 * milliseconds on loopback), so a pool with work queued is never idle this long.
 */
export const IDLE_GRACE_MS = 250;
const ROOM_POLL_MS = 50;

type Phase = 'unloaded' | 'loading' | 'ready' | 'unloading';

interface Member {
  readonly poolId: string;
  readonly onDemand: boolean;
  phase: Phase;
  /** Bytes its engines hold (all replicas), once the model's header has been read. */
  estimate: number | null;
  readyAt: number;
  waitingFor: string | null;
  /** A load asked for while it was unloading: start it once unloaded. */
  loadAfterUnload: boolean;
  /** Loading, and its room was made: its engines start (or run). A load still waiting for room holds nothing. */
  granted: boolean;
}

export interface ResidencyOptions {
  readonly registry: PoolRegistry;
  readonly slots: SlotLedger;
  readonly pools: InProcessPools;
  readonly log: Logger;
  /** NodeConfig.memory_budget_bytes: what CPU pools may hold together; null: no limit. */
  readonly memoryBudgetBytes: number | null;
  readonly maxSwapWaitMs: number;
  readonly metrics: { readonly loads: Counter<'pool_id' | 'outcome'>; readonly unloads: Counter<'pool_id' | 'reason'> };
}

/**
 * Pools loaded on demand (issue 18): started when orchestratord asks (POST /v2/pools/{id}/load, a task needs the
 * model), stopped after `idle_unload_s` without work, and unloaded least recently used first when a load needs their
 * memory. Pools loaded always count against the memory but are never unloaded. A pool with work is unloaded only
 * after a load has waited `max_swap_wait_ms` for it: until then it serves what is queued for it (batches per model,
 * not a swap per request), and new dispatches to it are refused once it is chosen (they go back to the queue).
 */
export class Residency {
  readonly #o: ResidencyOptions;
  readonly #members = new Map<string, Member>();
  #gpus: readonly GpuInfo[] = [];
  /** Our resident GPU bytes when the GPUs were last discovered: the rest of their used memory is someone else's. */
  #residentAtDiscovery = new Map<number, number>();
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Whether a drain or reload of the pool is under way (PoolControl): it is then never unloaded from here. */
  #underControl: (poolId: string) => boolean = () => false;

  constructor(options: ResidencyOptions) {
    this.#o = options;
    for (const pool of options.pools.pools()) {
      const onDemand = pool.load === 'on-demand';
      this.#members.set(pool.id, {
        poolId: pool.id,
        onDemand,
        phase: onDemand ? 'unloaded' : 'ready',
        estimate: null,
        readyAt: Date.now(),
        waitingFor: null,
        loadAfterUnload: false,
        granted: !onDemand,
      });
    }
  }

  /** Read the headers of the models already on disk (their estimates show before a load) and start the idle clock. */
  async start(): Promise<void> {
    await Promise.all([...this.#members.keys()].map((poolId) => this.#estimate(poolId).catch(() => null)));
    this.#timer = setInterval(() => this.#unloadIdle(), 1_000);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  /** Where drains and reloads are known (PoolControl.busy): a pool under one is neither idle nor a swap victim. */
  watchControl(underControl: (poolId: string) => boolean): void {
    this.#underControl = underControl;
  }

  /** The latest GPU discovery: free memory, and what of the used memory is ours. */
  observeGpus(gpus: readonly GpuInfo[]): void {
    this.#gpus = gpus;
    const ours = new Map<number, number>();
    for (const member of this.#members.values()) {
      const where = this.#o.pools.placement(member.poolId);
      if (where?.device !== 'cuda' || member.phase === 'unloaded') continue;
      const gpus = this.#gpuIndexes(member.poolId);
      for (const gpu of gpus) ours.set(gpu, (ours.get(gpu) ?? 0) + (member.estimate ?? 0) / gpus.length);
    }
    this.#residentAtDiscovery = ours;
  }

  /** POST /v2/pools/{id}/load: start loading the pool if it is unloaded; answers at once with where it stands. */
  load(poolId: string): LoadResponse | ErrorEnvelope {
    const member = this.#members.get(poolId);
    if (member === undefined) {
      if (this.#o.registry.has(poolId))
        return errorEnvelope(
          'CONFLICT',
          `pool ${poolId} runs engines this pool-managerd does not start (handoffs only)`,
        );
      return errorEnvelope('NOT_FOUND', `no pool ${poolId} on node ${this.#o.registry.nodeId}`);
    }
    if (this.#stopped) return errorEnvelope('POOL_UNAVAILABLE', 'pool-managerd is stopping', { retry_after_ms: 1000 });
    const state = this.#o.registry.state(poolId) ?? 'offline';
    if (member.onDemand && member.phase === 'unloading') member.loadAfterUnload = true;
    if (member.onDemand && member.phase === 'unloaded' && state !== 'draining') void this.#load(member);
    return { pool_id: poolId, state: this.#o.registry.state(poolId) ?? state, waiting_for: member.waitingFor };
  }

  async #estimate(poolId: string, modelPath?: string): Promise<number | null> {
    const member = this.#members.get(poolId);
    const where = this.#o.pools.placement(poolId);
    if (member === undefined || where === undefined) return null;
    member.estimate = await this.#o.pools.estimate(poolId, modelPath ?? where.modelPath);
    this.#o.registry.setMemoryEstimate(poolId, member.estimate);
    return member.estimate;
  }

  /**
   * Whether a new generation of the pool's engines (this model file) fits beside its current one and every other
   * pool resident now, unloading nothing (a reload's choice: side by side, or drain first). Unknown sizes fit.
   */
  async fitsBeside(poolId: string, modelPath: string, device: 'cpu' | 'cuda'): Promise<boolean> {
    const member = this.#members.get(poolId);
    const need = await this.#o.pools.estimate(poolId, modelPath);
    if (member === undefined || need === null) return true;
    const others = [...this.#members.values()].map((m) => ({ ...this.#view(m), onDemand: false }));
    return planRoom(need, this.#domain(poolId, device), others).kind === 'fits';
  }

  /** Why a reload of the pool must wait (an on-demand pool that is not loaded now), or null. */
  reloadBlocker(poolId: string): string | null {
    const member = this.#members.get(poolId);
    if (member === undefined || !member.onDemand || member.phase === 'ready') return null;
    return `pool ${poolId} is loaded on demand and ${member.phase} now: a reload replaces running engines; load it first (POST /v2/pools/${poolId}/load), then reload`;
  }

  /** A reload gave the pool a new model file: its estimate from now on. */
  async reloaded(poolId: string, modelPath: string): Promise<void> {
    await this.#estimate(poolId, modelPath).catch(() => null);
  }

  #gpuIndexes(poolId: string): readonly number[] {
    const pool = this.#o.pools.poolConfig(poolId);
    return pool?.gpus ?? this.#gpus.map((g) => g.index);
  }

  /** The memory the pool draws from: the CPU budget, or its GPUs' memory less what others than us use on them. */
  #domain(poolId: string, device: 'cpu' | 'cuda'): Domain {
    const configured = this.#o.pools.poolConfig(poolId)?.gpus ?? [];
    if (device === 'cpu') return { device, gpus: [], capacity: this.#o.memoryBudgetBytes ?? Number.POSITIVE_INFINITY };
    const gpus = this.#gpus.filter((g) => configured.length === 0 || configured.includes(g.index));
    if (gpus.length === 0) return { device, gpus: configured, capacity: Number.POSITIVE_INFINITY };
    const capacity = gpus.reduce((sum, g) => {
      const foreign = Math.max(0, g.memoryUsedBytes - (this.#residentAtDiscovery.get(g.index) ?? 0));
      return sum + g.memoryTotalBytes - foreign;
    }, 0);
    return { device, gpus: configured, capacity };
  }

  /** When the pool last served: its last slot claim or release, or when it became ready. */
  #lastActive(member: Member): number {
    return Math.max(member.readyAt, this.#o.slots.lastActive(member.poolId));
  }

  #view(member: Member): ResidentPool {
    const where = this.#o.pools.placement(member.poolId);
    const lastActive = this.#lastActive(member);
    const state = this.#o.registry.state(member.poolId);
    const serving = member.phase === 'ready' && state === 'ready' && !this.#underControl(member.poolId);
    const quiet = this.#o.slots.inFlight(member.poolId) === 0 && Date.now() - lastActive >= IDLE_GRACE_MS;
    return {
      poolId: member.poolId,
      onDemand: member.onDemand,
      // Two loads waiting for room do not count each other: neither holds memory until its room is made.
      resident:
        (member.phase === 'ready' || member.phase === 'unloading' || (member.phase === 'loading' && member.granted)) &&
        state !== 'offline' &&
        state !== 'failed',
      idle: serving && quiet,
      busy: serving && !quiet,
      lastActive,
      // A pool whose file was not on disk at start (downloaded since) is known by its engines' handoffs.
      estimate: member.estimate ?? this.#o.registry.status(member.poolId)?.memory_estimate_bytes ?? null,
      device: where?.device ?? 'cpu',
      gpus: this.#gpuIndexes(member.poolId),
    };
  }

  /**
   * Called by the provisioner once the model file is in place: unload what must go for the engines to fit, wait
   * while busy pools hold the memory (swapping them out after max_swap_wait_ms), or refuse for good.
   */
  async #makeRoom(member: Member, modelPath: string, device: 'cpu' | 'cuda', signal: AbortSignal): Promise<void> {
    const need = (await this.#estimate(member.poolId, modelPath)) ?? 0;
    const since = Date.now();
    for (;;) {
      if (this.#stopped) throw new Error('pool-managerd is stopping');
      // A drain or stop of this pool while it waits: give up the load rather than make room for nothing.
      if (signal.aborted) throw new Error(`the load of pool ${member.poolId} was stopped`);
      const domain = this.#domain(member.poolId, device);
      const others = [...this.#members.values()].filter((m) => m !== member).map((m) => this.#view(m));
      const plan = planRoom(need, domain, others);
      if (plan.kind === 'fits') break;
      if (plan.kind === 'never') throw new DoesNotFitError(`pool ${member.poolId} cannot be loaded: ${plan.reason}`);
      if (plan.kind === 'evict') {
        member.waitingFor = null;
        await Promise.all(plan.victims.map((id) => this.#unload(id, 'evicted')));
        continue;
      }
      if (member.waitingFor !== plan.reason) {
        this.#o.log.info({ pool_id: member.poolId, reason: plan.reason }, 'load waits for memory');
        this.#progress(member, 'waiting_for_memory', plan.reason);
      }
      member.waitingFor = plan.reason;
      if (Date.now() - since >= this.#o.maxSwapWaitMs && plan.victims.length > 0) {
        await Promise.all(plan.victims.map((id) => this.#unload(id, 'swapped')));
        continue;
      }
      await sleep(ROOM_POLL_MS);
    }
    member.waitingFor = null;
    member.granted = true;
    this.#progress(member, 'starting');
    this.#o.log.info({ pool_id: member.poolId, estimate_bytes: need }, 'room made; engines start');
  }

  async #load(member: Member): Promise<void> {
    const { registry, log } = this.#o;
    const started = Date.now();
    member.phase = 'loading';
    member.granted = false;
    registry.setLoadProgress(member.poolId, null);
    // A retry after a failed load: the failure is history until this one ends.
    registry.setProvisioning(member.poolId, 'provisioning');
    registry.setResidency(member.poolId, 'loading', 'load requested');
    this.#progress(member, 'preparing');
    log.info({ pool_id: member.poolId }, 'loading on demand');
    try {
      await this.#o.pools.load(member.poolId, (_pool: PoolConfig, path, device, signal) =>
        this.#makeRoom(member, path, device, signal),
      );
      member.phase = 'ready';
      member.readyAt = Date.now();
      registry.setResidency(member.poolId, null, 'loaded', member.readyAt - started);
      this.#o.metrics.loads.inc({ pool_id: member.poolId, outcome: 'ok' });
      log.info({ pool_id: member.poolId, load_ms: member.readyAt - started }, 'loaded on demand');
    } catch (error) {
      // Still `loading` until its engines are stopped: a load asked meanwhile does not start a second one.
      await this.#o.pools.stopPool(member.poolId).catch(() => undefined);
      member.phase = 'unloaded';
      member.waitingFor = null;
      if (provisioningCode(error) === 'PROV_STOPPED' || this.#stopped) {
        registry.setResidency(member.poolId, 'unloaded', 'load cancelled by a stop');
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      this.#o.metrics.loads.inc({
        pool_id: member.poolId,
        outcome: error instanceof DoesNotFitError ? 'does_not_fit' : 'failed',
      });
      log.error({ pool_id: member.poolId, err: error }, 'load on demand failed');
      registry.setResidency(member.poolId, null, 'load failed');
      registry.setProvisioning(member.poolId, 'failed', message);
    }
  }

  #progress(member: Member, phase: LoadProgressEntry['phase'], waitingFor: string | null = null): void {
    const since = this.#o.registry.loadProgress(member.poolId)?.since ?? Date.now();
    this.#o.registry.setLoadProgress(member.poolId, { phase, bytesDone: null, bytesTotal: null, waitingFor, since });
  }

  /** Stop new dispatches, let what runs finish, stop the engines. */
  async #unload(poolId: string, reason: 'idle' | 'evicted' | 'swapped'): Promise<void> {
    const member = this.#members.get(poolId);
    if (member === undefined || member.phase !== 'ready') return;
    const { registry, slots, log } = this.#o;
    member.phase = 'unloading';
    registry.setLoadProgress(poolId, null);
    registry.setResidency(poolId, 'unloading', `unloading (${reason})`);
    this.#progress(member, 'unloading');
    await slots.whenIdle(poolId);
    await this.#o.pools.stopPool(poolId);
    for (const id of [...registry.replicas(poolId).keys()]) registry.removeReplica(poolId, id, `unloaded (${reason})`);
    member.phase = 'unloaded';
    registry.setResidency(poolId, 'unloaded', `unloaded (${reason})`);
    this.#o.metrics.unloads.inc({ pool_id: poolId, reason });
    log.info({ pool_id: poolId, reason }, 'unloaded');
    if (member.loadAfterUnload && !this.#stopped) {
      member.loadAfterUnload = false;
      void this.#load(member);
    }
  }

  #unloadIdle(): void {
    const now = Date.now();
    for (const member of this.#members.values()) {
      if (!member.onDemand || member.phase !== 'ready' || this.#underControl(member.poolId)) continue;
      const idleMs = (this.#o.pools.poolConfig(member.poolId)?.idle_unload_s ?? DEFAULT_IDLE_UNLOAD_S) * 1000;
      const lastActive = this.#lastActive(member);
      if (this.#o.slots.inFlight(member.poolId) === 0 && now - lastActive >= idleMs)
        this.#unload(member.poolId, 'idle').catch((error: unknown) =>
          this.#o.log.error({ pool_id: member.poolId, err: error }, 'idle unload failed'),
        );
    }
  }
}

/** The engines would not fit even with every pool loaded on demand unloaded. */
export class DoesNotFitError extends Error {
  override readonly name = 'DoesNotFitError';
}
