export { buildDataPlaneDocument, dataPlaneOperations } from './data-plane.ts';
export { embeddingOperations } from './embedding-operations.ts';
export { buildControlPlaneDocument, controlPlaneOperations } from './control-plane.ts';
export { contractJsonSchemas, SCHEMA_PREFIX, type OperationSpec } from './document.ts';
export { standaloneSchema } from './standalone.ts';
