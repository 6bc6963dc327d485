export type { LifecycleLog } from './log.ts';
export { StopStack, type StopStep } from './stop-stack.ts';
export { ServiceHost, StartCancelled, type Service, type ServiceState, type StartScope } from './service-host.ts';
export { Periodic, type PeriodicOptions } from './periodic.ts';
export { runUntilSignal } from './run-until-signal.ts';
