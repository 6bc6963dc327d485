export { EngineProvisioner, PlanRefusedError, type ProvisionerOptions, type ProvisionerState } from './provisioner.ts';
export { buildPlan, planToJson, type Plan, type ProvisionTarget } from './plan/plan.ts';
export { chooseDevice, type DeviceChoice, type Finding, type FindingCode } from './plan/device.ts';
export { detectHostFacts, type HostFacts } from './host/host-facts.ts';
export { parseNvidiaSmi, NVIDIA_SMI_QUERY, type GpuInfo } from './host/nvidia-smi.ts';
export {
  ensureEngine,
  ensureSourceTree,
  probeEngineVersion,
  StoppedError,
  type EngineBinary,
  type EngineEvents,
} from './engine/ensure-engine.ts';
export { claimHandoffDir, HandoffDirBusyError } from './launch/instance-lock.ts';
export { reapStaleEngines } from './launch/reap-stale.ts';
export { EngineBuildError } from './engine/build-error.ts';
export { buildPercent } from './engine/progress.ts';
export { sourceLayout } from './engine/source-layout.ts';
export { ensureModel, type ReadyModel } from './model/ensure-model.ts';
export { modelLocation, DEFAULT_HF_ENDPOINT, type ModelLocation } from './model/model-location.ts';
export { ModelError } from './model/model-error.ts';
export {
  buildDemoModel,
  DEMO_CHAT_TEMPLATE,
  DEMO_MODEL_DEFAULTS,
  DEMO_MODEL_VERSION,
  DEMO_VOCABULARY,
} from './model/demo-model.ts';
export {
  checkGgufFile,
  readGgufFileHeader,
  readGgufFileLayout,
  readGgufHeader,
  readGgufLayout,
  type GgufHeader,
  type GgufLayout,
  type GgufTensorEntry,
} from './model/gguf-reader.ts';
export { GGML_TYPE_SIZES, ggmlTensorBytes, type GgmlTypeSize } from './model/ggml-types.ts';
export { kvBytesPerToken, kvCacheBytes, kvCacheCells, type KvCacheTypes } from './model/kv-size.ts';
export type { DownloadProgress } from './model/download.ts';
export { ReplicaSupervisor, type ReplicaDetail, type ReplicaState } from './launch/replica-supervisor.ts';
export { EngineStartError } from './launch/engine-process.ts';
export { watchGroup, type GroupWatchdog } from './launch/group-watchdog.ts';
export { DEFAULT_LOG_ROTATION, RotatingFile, type LogRotation } from './launch/rotating-file.ts';
export { DEFAULT_BACKOFF, restartDelay, type BackoffPolicy } from './launch/backoff.ts';
export { kindFlags, llamaServerCommand } from './launch/llama-server-args.ts';
export type { Logger } from './logger.ts';
export { PROVISIONING_ERROR_CODES, ProvisioningError, provisioningCode, type ProvisioningErrorCode } from './errors.ts';
export type { EngineBuildErrorCode } from './engine/build-error.ts';
export type { ModelErrorCode } from './model/model-error.ts';
export {
  estimateEngineMemory,
  estimateModelFileMemory,
  modelFacts,
  readModelFacts,
  PROCESS_BYTES,
  type MemoryEstimate,
  type MemoryEstimateOptions,
  type ModelFacts,
} from './model/memory-estimate.ts';
