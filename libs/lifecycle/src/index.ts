export type { LifecycleLog } from './log.ts';
export { StopStack, type StopStep } from './stop-stack.ts';
export { ServiceHost, StartCancelled, type Service, type ServiceState, type StartScope } from './service-host.ts';
export { Periodic, type PeriodicOptions } from './periodic.ts';
export { runUntilSignal, type RunOptions } from './run-until-signal.ts';
export { onStopSignals, type StopSignalOptions, type StopUrgency } from './stop-signals.ts';
export { daemonCommandLine } from './daemon-command-line.ts';
export { DAEMON_NODE_FLAGS } from './node-flags.ts';
