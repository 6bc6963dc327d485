import { z } from 'zod';
import { ResourceIdSchema } from './ids.ts';
import { PoolStateSchema } from './pool-status.ts';
import { named } from './registry.ts';

/** The route pool-managerd POSTs readiness changes to (the CLOUD spec's callback pattern). */
export const POOL_READY_CALLBACK_PATH = '/callbacks/pool-ready';

export const PoolReadyCallbackSchema = named(
  z.strictObject({
    pool_id: ResourceIdSchema,
    node_id: ResourceIdSchema,
    state: PoolStateSchema,
  }),
  'PoolReadyCallback',
  "Body of orchestratord POST /callbacks/pool-ready: one of a pool-managerd's pools changed state, so orchestratord polls that node at once. A hint only: the poll's answer is what counts.",
);
export type PoolReadyCallback = z.infer<typeof PoolReadyCallbackSchema>;
