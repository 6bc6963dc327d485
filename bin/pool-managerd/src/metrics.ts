import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PoolRegistry } from './registry/pool-registry.ts';

export interface PoolMetrics {
  readonly handoffFiles: Counter<'outcome'>;
  readonly engineRestarts: Counter<'pool_id'>;
  readonly dispatches: Counter<'pool_id' | 'outcome'>;
  readonly dispatchDuration: Histogram<'pool_id'>;
  // The CLOUD profile spec's names (OBS-6306..6308), beside the ones above; pool_ready is registered below.
  readonly handoffProcessing: Histogram<'pool_id'>;
  readonly healthChecks: Counter<'pool_id' | 'outcome'>;
  /** Pools loaded on demand (issue 18): loads by outcome, unloads by reason (evicted and swapped are the swaps). */
  readonly modelLoads: Counter<'pool_id' | 'outcome'>;
  readonly modelUnloads: Counter<'pool_id' | 'reason'>;
  /** Where a completion dispatch went for its prompt's KV cache (issue 19). */
  readonly kvDispatches: Counter<'pool_id' | 'decision'>;
  /** The engines' prefill cost per prompt token they computed, as measured from their timings (EWMA). */
  readonly prefillMsPerToken: Gauge<'pool_id'>;
}

/** Register pool-managerd's series on `registry`; pool gauges are read from the registry at scrape time. */
export function createMetrics(registry: Registry, pools: PoolRegistry): PoolMetrics {
  const gauge = (name: string, help: string, value: (poolId: string) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['pool_id'],
      registers: [registry],
      collect() {
        this.reset();
        for (const status of pools.statuses()) {
          const v = value(status.pool_id);
          if (v !== null) this.set({ pool_id: status.pool_id }, v);
        }
      },
    });
  };
  const status = (id: string) => pools.status(id);
  gauge('pool_ready', '1 when the pool takes dispatches', (id) => (status(id)?.ready === true ? 1 : 0));
  gauge('pool_slots_total', 'Slots of the pool’s healthy replicas', (id) => status(id)?.slots_total ?? null);
  gauge('pool_slots_free', 'Slots free for a dispatch', (id) => status(id)?.slots_free ?? null);
  gauge('pool_vram_total_bytes', 'VRAM of the pool’s GPUs', (id) => status(id)?.vram_total_bytes ?? null);
  gauge('pool_vram_free_bytes', 'Free VRAM of the pool’s GPUs', (id) => status(id)?.vram_free_bytes ?? null);
  return {
    handoffFiles: new Counter({
      name: 'pool_handoff_files_processed_total',
      help: 'Handoff files read, by outcome (accepted, invalid, removed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    engineRestarts: new Counter({
      name: 'pool_engine_restarts_total',
      help: 'Engines that came back with a new pid',
      labelNames: ['pool_id'],
      registers: [registry],
    }),
    dispatches: new Counter({
      name: 'pool_dispatch_total',
      help: 'Dispatches by outcome (ok, busy, unready, engine_error, client_abort, drained)',
      labelNames: ['pool_id', 'outcome'],
      registers: [registry],
    }),
    dispatchDuration: new Histogram({
      name: 'pool_dispatch_duration_ms',
      help: 'Time from dispatch to the end of the engine answer',
      labelNames: ['pool_id'],
      buckets: [50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000],
      registers: [registry],
    }),
    handoffProcessing: new Histogram({
      name: 'pool_handoff_processing_duration_ms',
      help: 'Time to read, validate and reconcile one handoff file (accepted or removed)',
      labelNames: ['pool_id'],
      buckets: [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000],
      registers: [registry],
    }),
    modelLoads: new Counter({
      name: 'pool_model_loads_total',
      help: 'Loads of pools loaded on demand, by outcome (ok, failed, does_not_fit)',
      labelNames: ['pool_id', 'outcome'],
      registers: [registry],
    }),
    modelUnloads: new Counter({
      name: 'pool_model_unloads_total',
      help: 'Unloads of pools loaded on demand, by reason (idle; evicted: idle, for another load; swapped: busy, after max_swap_wait_ms)',
      labelNames: ['pool_id', 'reason'],
      registers: [registry],
    }),
    kvDispatches: new Counter({
      name: 'pool_kv_dispatches_total',
      help: "Completion dispatches by KV cache decision: warm (the slot or replica holding the prompt's prefix), warm_waited (waited for that busy slot: cheaper than the prefill), cold_busy (it was busy: went cold), cold (no cache known), off (KV affinity off)",
      labelNames: ['pool_id', 'decision'],
      registers: [registry],
    }),
    prefillMsPerToken: new Gauge({
      name: 'pool_prefill_ms_per_token',
      help: "Milliseconds per prompt token the pool's engines computed (not reused), from their own timings: what a cold KV cache costs",
      labelNames: ['pool_id'],
      registers: [registry],
    }),
    healthChecks: new Counter({
      name: 'pool_health_checks_total',
      help: 'Engine health checks by outcome (ok, unhealthy, unreachable, gone)',
      labelNames: ['pool_id', 'outcome'],
      registers: [registry],
    }),
  };
}
