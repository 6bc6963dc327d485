import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface OrchMetrics {
  readonly enqueued: Counter<'priority'>;
  readonly started: Counter<'pool_id' | 'priority'>;
  readonly canceled: Counter<'reason'>;
  readonly rejected: Counter<'reason'>;
  readonly tokensIn: Counter<'pool_id'>;
  readonly tokensOut: Counter<'pool_id'>;
  readonly queueDepth: Gauge<'priority'>;
  readonly firstToken: Histogram<'pool_id' | 'priority'>;
  readonly decode: Histogram<'pool_id' | 'priority'>;
  readonly admissionShare: Gauge<'priority'>;
  readonly placements: Counter<'outcome'>;
}

/** The metric names of the reference metrics contract, with bounded label sets (pool ids come from config). */
export function createMetrics(registry: Registry): OrchMetrics {
  const registers = [registry];
  return {
    enqueued: new Counter({
      name: 'tasks_enqueued_total',
      help: 'Tasks admitted',
      labelNames: ['priority'],
      registers,
    }),
    started: new Counter({
      name: 'tasks_started_total',
      help: 'Tasks that began on a pool',
      labelNames: ['pool_id', 'priority'],
      registers,
    }),
    canceled: new Counter({
      name: 'tasks_canceled_total',
      help: 'Tasks canceled (client, disconnect)',
      labelNames: ['reason'],
      registers,
    }),
    rejected: new Counter({
      name: 'tasks_rejected_total',
      help: 'Tasks refused or ended before they ran, by error code',
      labelNames: ['reason'],
      registers,
    }),
    tokensIn: new Counter({ name: 'tokens_in_total', help: 'Prompt tokens', labelNames: ['pool_id'], registers }),
    tokensOut: new Counter({
      name: 'tokens_out_total',
      help: 'Generated tokens sent to clients',
      labelNames: ['pool_id'],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'queue_depth',
      help: 'Tasks waiting in the admission queue',
      labelNames: ['priority'],
      registers,
    }),
    firstToken: new Histogram({
      name: 'latency_first_token_ms',
      help: 'Admission to first token',
      labelNames: ['pool_id', 'priority'],
      buckets: [50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000],
      registers,
    }),
    decode: new Histogram({
      name: 'latency_decode_ms',
      help: 'First token to the end of the answer',
      labelNames: ['pool_id', 'priority'],
      buckets: [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000],
      registers,
    }),
    admissionShare: new Gauge({
      name: 'admission_share',
      help: 'Share of admitted tasks by priority',
      labelNames: ['priority'],
      registers,
    }),
    placements: new Counter({
      name: 'placement_decisions_total',
      help: 'Placement decisions by outcome',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
