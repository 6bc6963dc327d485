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

const RELOAD_DRAIN_MS = 30_000;
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

  /** Drain, start the new model, switch; if the new engine fails the old one serves on (rolled_back). */
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
    if (this.#inProcess === null) {
      return errorEnvelope(
        'CONFLICT',
        `pool ${poolId}: reload needs pool-managerd to run the engines (LLORCH_CONFIG); this node only watches handoff files`,
      );
    }
    const before = this.#registry.status(poolId);
    const oldIds = new Set(this.#registry.replicas(poolId).keys());
    this.#busy.add(poolId);
    const log = this.#log.child({ pool_id: poolId, model: request.model_ref });
    try {
      this.#registry.setActive(poolId, oldIds, 'reload: old replicas only');
      this.#registry.setDraining(poolId, true, false, `reload to ${request.model_ref}`);
      await this.#quiesce(poolId, RELOAD_DRAIN_MS);
      let generation;
      try {
        generation = await this.#inProcess.startGeneration(poolId, request.model_ref, request.sha256);
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
        this.#registry.setActive(poolId, null, 'reload rolled back');
        this.#registry.setDraining(poolId, false, false, 'reload rolled back');
        this.#registry.setLastError(poolId, `reload to ${request.model_ref} failed: ${message}`);
        return { pool_id: poolId, ok: false, rolled_back: true, model: before?.model ?? 'unknown', message };
      }
      this.#registry.setActive(poolId, new Set(generation.replicaIds), `reloaded to ${request.model_ref}`);
      this.#registry.setDraining(poolId, false, false, `reloaded to ${request.model_ref}`);
      await generation.commit();
      // The old engines are stopped and their files removed: forget them now rather than at the watcher's pace.
      for (const id of oldIds)
        this.#registry.removeReplica(poolId, id, `replaced by the reload to ${request.model_ref}`);
      this.#registry.setActive(poolId, null, 'reload committed');
      log.info('reloaded');
      return { pool_id: poolId, ok: true, rolled_back: false, model: request.model_ref };
    } finally {
      this.#busy.delete(poolId);
    }
  }
}
