export { buildDataPlaneDocument, dataPlaneOperations } from './data-plane.ts';
export { buildControlPlaneDocument, controlPlaneOperations } from './control-plane.ts';
export type { OperationSpec } from './document.ts';
