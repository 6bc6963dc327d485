import { setTimeout as sleep } from 'node:timers/promises';
import {
  errorEnvelope,
  type DrainResponse,
  type ErrorEnvelope,
  type ReloadRequest,
  type ReloadResponse,
} from '@llama-orch/contracts';
import { PROVISIONING_ERROR_CODES, provisioningCode } from '@llama-orch/provisioning';
import type { Logger } from 'pino';
import type { InProcessPools } from '../provisioning/in-process-pools.ts';
import type { PoolRegistry } from '../registry/pool-registry.ts';
import type { SlotLedger } from '../slots/slot-ledger.ts';
import { ModelAllowList } from './model-allow-list.ts';

const NEW_GENERATION_READY_MS = 30_000;

/**
 * What a failed reload tells the caller (and the pool's last_error): the failure's stable code with the caller's own
 * reference or the catalogue meaning — never the error's own text, which may quote the bytes of the file it read or
 * the network it reached. The log has that.
 */
export function publicReloadFailure(error: unknown, modelRef: string): string {
  const code = provisioningCode(error);
  if (code === null) return 'the new engines did not become healthy; see the pool-managerd log';
  if (code === 'PROV_MODEL_NOT_FOUND') return `${code}: ${modelRef} does not exist`;
  return `${code}: ${PROVISIONING_ERROR_CODES[code]}; see the pool-managerd log`;
}

/** Drain and reload: the operations that change what a pool serves. One at a time per pool. */
export class PoolControl {
  readonly #registry: PoolRegistry;
  readonly #slots: SlotLedger;
  readonly #inProcess: InProcessPools | null;
  readonly #log: Logger;
  readonly #busy = new Set<string>();
  readonly #allowed: ModelAllowList;
  #fitsBeside: (poolId: string, modelPath: string, device: 'cpu' | 'cuda') => Promise<boolean> = () =>
    Promise.resolve(true);
  #reloaded: ((poolId: string, modelPath: string) => Promise<void>) | null = null;
  #reloadBlocker: (poolId: string) => string | null = () => null;

  /** The memory check of a reload (Residency.fitsBeside) and what it is told once a reload committed. */
  useResidency(residency: {
    fitsBeside: (poolId: string, modelPath: string, device: 'cpu' | 'cuda') => Promise<boolean>;
    reloaded: (poolId: string, modelPath: string) => Promise<void>;
    reloadBlocker: (poolId: string) => string | null;
  }): void {
    this.#reloadBlocker = (poolId) => residency.reloadBlocker(poolId);
    this.#fitsBeside = (poolId, modelPath, device) => residency.fitsBeside(poolId, modelPath, device);
    this.#reloaded = (poolId, modelPath) => residency.reloaded(poolId, modelPath);
  }

  /** `modelAllowList`: the references a reload may name besides the node config's models (config.modelAllowList). */
  constructor(
    registry: PoolRegistry,
    slots: SlotLedger,
    inProcess: InProcessPools | null,
    log: Logger,
    modelAllowList: readonly string[],
  ) {
    this.#registry = registry;
    this.#slots = slots;
    this.#inProcess = inProcess;
    this.#log = log;
    this.#allowed = new ModelAllowList([...(inProcess?.pools().map((pool) => pool.model) ?? []), ...modelAllowList]);
  }

  /** Whether a drain or reload of the pool is under way. */
  busy(poolId: string): boolean {
    return this.#busy.has(poolId);
  }

  #guard(poolId: string): ErrorEnvelope | null {
    if (!this.#registry.has(poolId))
      return errorEnvelope('NOT_FOUND', `no pool ${poolId} on node ${this.#registry.nodeId}`);
    if (this.#busy.has(poolId)) return errorEnvelope('CONFLICT', `a drain or reload of pool ${poolId} is in progress`);
    return null;
  }

  /** Stop new dispatches, let in-flight ones finish until the deadline, then abort them. */
  async #quiesce(poolId: string, deadlineMs: number): Promise<number> {
    if (await this.#slots.whenIdle(poolId, deadlineMs)) return 0;
    const aborted = this.#slots.abortAll(poolId, new Error('pool drained'));
    await this.#slots.whenIdle(poolId);
    return aborted;
  }

  async drain(poolId: string, deadlineMs: number): Promise<DrainResponse | ErrorEnvelope> {
    const refused = this.#guard(poolId);
    if (refused) return refused;
    this.#busy.add(poolId);
    const started = Date.now();
    try {
      this.#registry.setDraining(poolId, true, false, `drain requested (deadline ${deadlineMs} ms)`);
      const aborted = await this.#quiesce(poolId, deadlineMs);
      await this.#inProcess?.stopPool(poolId);
      this.#registry.setDraining(poolId, false, true, `drained (${aborted} aborted)`);
      return {
        pool_id: poolId,
        state: this.#registry.state(poolId) ?? 'offline',
        aborted,
        duration_ms: Date.now() - started,
      };
    } finally {
      this.#busy.delete(poolId);
    }
  }

  /**
   * Start the new model's engines beside the old ones, switch new dispatches to them, let the old ones finish what
   * they run, then stop them: no request is cut and the pool never stops serving. When the memory (PoolConfig's
   * device: memory_budget_bytes or its GPUs) cannot hold both, the old engines are drained first (what they run
   * finishes; new work waits in orchestratord's queue) and stopped before the new ones start. If the new engines
   * fail, the old model serves on (rolled_back), started again when it had been stopped.
   */
  async reload(poolId: string, request: ReloadRequest): Promise<ReloadResponse | ErrorEnvelope> {
    const refused = this.#guard(poolId);
    if (refused) return refused;
    // Before anything touches the reference: one outside the list is never fetched, opened or even stat'ed.
    if (!this.#allowed.permits(request.model_ref)) {
      this.#log.warn({ pool_id: poolId, model: request.model_ref }, 'reload refused: model not on the allow-list');
      return errorEnvelope(
        'FORBIDDEN',
        `model_ref: ${request.model_ref} is not on this node's model allow-list (POOL_MANAGERD_MODEL_ALLOWLIST)`,
      );
    }
    const inProcess = this.#inProcess;
    if (inProcess === null) {
      return errorEnvelope(
        'CONFLICT',
        `pool ${poolId}: reload needs pool-managerd to run the engines (LLORCH_CONFIG); this node only watches handoff files`,
      );
    }
    const blocked = this.#reloadBlocker(poolId);
    if (blocked !== null) return errorEnvelope('CONFLICT', blocked);
    const before = this.#registry.status(poolId);
    const oldModel = inProcess.poolConfig(poolId);
    const oldIds = new Set(this.#registry.replicas(poolId).keys());
    this.#busy.add(poolId);
    const log = this.#log.child({ pool_id: poolId, model: request.model_ref });
    let drainedFirst = false;
    try {
      this.#registry.setActive(poolId, oldIds, 'reload: the old engines serve while the new ones start');
      let generation;
      try {
        generation = await inProcess.startGeneration(
          poolId,
          request.model_ref,
          request.sha256,
          async (_pool, modelPath, device) => {
            if (oldIds.size === 0 || (await this.#fitsBeside(poolId, modelPath, device))) return;
            drainedFirst = true;
            log.info('reload: no room for both models; the old engines finish their work and stop first');
            this.#registry.setDraining(poolId, true, false, `reload to ${request.model_ref}: draining the old engines`);
            await this.#slots.whenIdle(poolId);
            await inProcess.stopPool(poolId);
            for (const id of oldIds) this.#registry.removeReplica(poolId, id, 'stopped for the reload');
          },
        );
        const ids = generation.replicaIds;
        const deadline = Date.now() + NEW_GENERATION_READY_MS;
        while (!ids.every((id) => this.#registry.replicas(poolId).get(id)?.healthy === true)) {
          if (Date.now() > deadline)
            throw new Error(`the new engines were not seen healthy within ${NEW_GENERATION_READY_MS} ms`);
          await sleep(25);
        }
      } catch (error) {
        await generation?.abandon();
        const message = publicReloadFailure(error, request.model_ref);
        log.warn({ err: error }, 'reload failed; the old model keeps serving');
        if (drainedFirst && oldModel !== undefined) await this.#restart(poolId, oldModel.model, oldModel.sha256, log);
        this.#registry.setActive(poolId, null, 'reload rolled back');
        this.#registry.setDraining(poolId, false, false, 'reload rolled back');
        this.#registry.setLastError(poolId, `reload to ${request.model_ref} failed: ${message}`);
        return { pool_id: poolId, ok: false, rolled_back: true, model: before?.model ?? 'unknown', message };
      }
      // New work goes to the new engines from here; the old ones finish what they run, then stop.
      this.#registry.setActive(poolId, new Set(generation.replicaIds), `reloaded to ${request.model_ref}`);
      this.#registry.setDraining(poolId, false, false, `reloaded to ${request.model_ref}`);
      while ([...oldIds].some((id) => this.#slots.inFlight(poolId, id) > 0)) await sleep(25);
      await generation.commit();
      // The old engines are stopped and their files removed: forget them now rather than at the watcher's pace.
      for (const id of oldIds)
        this.#registry.removeReplica(poolId, id, `replaced by the reload to ${request.model_ref}`);
      this.#registry.setActive(poolId, null, 'reload committed');
      const path = inProcess.placement(poolId)?.modelPath;
      if (path !== undefined) await this.#reloaded?.(poolId, path);
      log.info({ side_by_side: !drainedFirst }, 'reloaded');
      return { pool_id: poolId, ok: true, rolled_back: false, model: request.model_ref };
    } finally {
      this.#busy.delete(poolId);
    }
  }

  /** After a failed reload that had stopped the old engines: start the old model again. */
  async #restart(poolId: string, model: string, sha256: string | undefined, log: Logger): Promise<void> {
    try {
      const again = await this.#inProcess?.startGeneration(poolId, model, sha256);
      await again?.commit();
    } catch (error) {
      log.error({ err: error }, 'the old model did not start again after the failed reload');
    }
  }
}
