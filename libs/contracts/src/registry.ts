import { z } from 'zod';

/** Metadata of a named wire shape: its OpenAPI component name and what it is. */
export interface ContractMeta {
  readonly id: string;
  readonly description: string;
}

/**
 * Every named wire shape registers here; the OpenAPI documents take their `components.schemas` from this
 * registry, so the runtime schemas and the documents cannot drift apart.
 */
export const contractRegistry = z.registry<ContractMeta>();

const byId = new Map<string, z.ZodType>();

export function named<S extends z.ZodType>(schema: S, id: string, description: string): S {
  if (byId.has(id)) throw new Error(`contract shape ${id} is registered twice`);
  contractRegistry.add(schema, { id, description });
  byId.set(id, schema);
  return schema;
}

/** Every named wire shape, by id, in registration order. */
export function contractShapes(): ReadonlyMap<string, z.ZodType> {
  return byId;
}
