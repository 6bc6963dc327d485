import { errorEnvelope, poolKindOf, type ErrorEnvelope, type TaskRequest } from '@llama-orch/contracts';
import { servesModel, type PoolView } from '../placement/place.ts';

/** The engines this build drives (PoolStatus.engine); the contract names others it does not. */
export const SERVED_ENGINES: readonly string[] = ['llamacpp'];

/**
 * Whether /v2/tasks can serve this workload here: completion always; embedding and rerank when a pool of that kind
 * serves the model (otherwise a message naming the field and the kinds that do serve it).
 */
export function workloadProblem(
  workload: TaskRequest['workload'],
  model: string,
  views: readonly PoolView[],
): string | null {
  if (workload === 'completion') return null;
  const serving = views.filter((v) => servesModel(v, model));
  if (serving.length === 0 || serving.some((v) => poolKindOf(v.status) === workload)) return null;
  const kinds = [...new Set(serving.map((v) => poolKindOf(v.status)))].sort().join(' and ');
  return `workload: "${workload}" needs a pool of kind ${workload} serving ${model}; ${model} is served for ${kinds} only`;
}

/**
 * `placement.node_id` names a node orchestratord sees now, with at least one reachable pool; otherwise a retriable
 * 503 NODE_UNAVAILABLE naming the node and the nodes it does know.
 */
export function nodeProblem(nodeId: string, views: readonly PoolView[]): ErrorEnvelope | null {
  const known = [...new Set(views.map((v) => v.status.node_id))].sort();
  const own = views.filter((v) => v.status.node_id === nodeId);
  if (own.length === 0)
    return errorEnvelope(
      'NODE_UNAVAILABLE',
      `placement.node_id: node ${nodeId} is unknown to orchestratord (known nodes: ${known.join(', ') || 'none'})`,
      { retry_after_ms: 1000 },
    );
  if (!own.some((v) => v.available))
    return errorEnvelope(
      'NODE_UNAVAILABLE',
      `placement.node_id: node ${nodeId} does not answer (its pool-managerd ${own[0]?.nodeUrl ?? ''} failed its last poll)`,
      { retry_after_ms: 1000 },
    );
  return null;
}

/**
 * What the TaskRequest contract allows but this deployment cannot serve: a specific 400 naming the field and what
 * is served, never a silent ignore (ORCH-4031); an unknown or silent node is a 503 NODE_UNAVAILABLE.
 */
export function servingProblem(task: TaskRequest, views: readonly PoolView[]): ErrorEnvelope | null {
  if (!SERVED_ENGINES.includes(task.engine))
    return errorEnvelope(
      'INVALID_PARAMS',
      `engine: "${task.engine}" is not served; this deployment serves ${SERVED_ENGINES.join(', ')}`,
    );
  const workload = workloadProblem(task.workload, task.model_ref, views);
  if (workload !== null) return errorEnvelope('INVALID_PARAMS', workload);
  if (task.output_mode === 'edits')
    return errorEnvelope(
      'INVALID_PARAMS',
      'output_mode: "edits" is not served (no engine here returns edits); text and json are',
    );
  const nodeId = task.placement?.node_id;
  return nodeId === undefined ? null : nodeProblem(nodeId, views);
}
