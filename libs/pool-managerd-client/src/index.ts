export {
  PoolManagerdClient,
  type ControlOutcome,
  type DispatchOptions,
  type DispatchOutcome,
  type PoolListOutcome,
  type PoolManagerdClientOptions,
} from './client.ts';
export { parseEngineFrame, type EngineFrame } from './engine-frame.ts';
