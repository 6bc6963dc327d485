import { z } from 'zod';
import { contractRegistry } from '../registry.ts';

type JsonSchema = Record<string, unknown>;

export interface ResponseSpec {
  readonly description: string;
  /** Registered schema id of a JSON body. */
  readonly json?: string;
  /** Registered schema id of each `data:` frame of an SSE body. */
  readonly sse?: string;
  readonly text?: true;
  readonly headers?: readonly (keyof typeof RESPONSE_HEADERS)[];
}

export interface OperationSpec {
  readonly method: 'get' | 'post' | 'delete';
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tags: readonly string[];
  readonly body?: string;
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /** none: open; a list: these security schemes instead of the document's default ones. */
  readonly security?: 'none' | readonly string[];
}

export interface DocumentSpec {
  readonly title: string;
  readonly version: string;
  readonly description: string;
  readonly securitySchemes: Record<string, JsonSchema>;
  /** The schemes of operations that name none (default: every declared scheme). */
  readonly defaultSecurity?: readonly string[];
  readonly operations: readonly OperationSpec[];
}

export const SCHEMA_PREFIX = '#/components/schemas/';

/** JSON Schema (draft 2020-12) of every registered shape, with refs as `#/components/schemas/<id>`. */
export function contractJsonSchemas(): Record<string, JsonSchema> {
  const out = z.toJSONSchema(contractRegistry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `${SCHEMA_PREFIX}${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const schemas: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(out.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema;
    schemas[id] = rest;
  }
  return schemas;
}

function refsIn(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) refsIn(item, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string' && inner.startsWith(SCHEMA_PREFIX)) {
        into.add(inner.slice(SCHEMA_PREFIX.length));
      } else refsIn(inner, into);
    }
  }
}

function ref(id: string): JsonSchema {
  return { $ref: `${SCHEMA_PREFIX}${id}` };
}

const CORRELATION_HEADER = {
  description: 'Echo of the request X-Correlation-Id, or a generated one.',
  schema: { type: 'string' },
};
const RESPONSE_HEADERS = {
  'Retry-After': { description: 'Seconds to wait before retrying (rounded up).', schema: { type: 'integer' } },
  'X-Backoff-Ms': { description: 'Milliseconds to wait before retrying.', schema: { type: 'integer' } },
  'X-Budget-Tokens-Remaining': {
    description:
      "Tokens the session's budget has left once this turn's max_tokens is reserved (only with a tokens budget).",
    schema: { type: 'integer' },
  },
  'X-Budget-Time-Remaining-Ms': {
    description: "Engine time the session's budget has left (only with a time budget).",
    schema: { type: 'integer' },
  },
};

function response(spec: ResponseSpec): JsonSchema {
  const content: Record<string, JsonSchema> = {};
  if (spec.json !== undefined) content['application/json'] = { schema: ref(spec.json) };
  if (spec.sse !== undefined) {
    content['text/event-stream'] = {
      schema: { type: 'string', description: `Server-sent events; each data frame is a ${spec.sse}.` },
      'x-sse-data-schema': ref(spec.sse),
    };
  }
  if (spec.text === true) content['text/plain'] = { schema: { type: 'string' } };
  const headers: Record<string, JsonSchema> = { 'X-Correlation-Id': CORRELATION_HEADER };
  for (const name of spec.headers ?? []) headers[name] = RESPONSE_HEADERS[name];
  const out: JsonSchema = { description: spec.description, headers };
  if (Object.keys(content).length > 0) out['content'] = content;
  return out;
}

/** One security requirement per scheme name (any of them will do); each must be declared. */
function requirements(spec: DocumentSpec, names: readonly string[]): Record<string, string[]>[] {
  for (const name of names)
    if (!(name in spec.securitySchemes)) throw new Error(`security scheme ${name} is not declared`);
  return names.map((name) => ({ [name]: [] }));
}

/** Build an OpenAPI 3.1 document whose schemas are generated from the runtime contract schemas. */
export function buildDocument(spec: DocumentSpec): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const used = new Set<string>();
  for (const op of spec.operations) {
    const parameters = [...op.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
      name: match[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const operation: JsonSchema = { operationId: op.operationId, summary: op.summary, tags: [...op.tags] };
    if (parameters.length > 0) operation['parameters'] = parameters;
    if (op.body !== undefined) {
      used.add(op.body);
      operation['requestBody'] = { required: true, content: { 'application/json': { schema: ref(op.body) } } };
    }
    const responses: Record<string, JsonSchema> = {};
    for (const [status, res] of Object.entries(op.responses)) {
      for (const id of [res.json, res.sse]) if (id !== undefined) used.add(id);
      responses[status] = response(res);
    }
    operation['responses'] = responses;
    if (op.security === 'none') operation['security'] = [];
    else if (op.security !== undefined) operation['security'] = requirements(spec, op.security);
    (paths[op.path] ??= {})[op.method] = operation;
  }

  const all = contractJsonSchemas();
  const closure = new Set<string>();
  const pending = [...used];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (closure.has(id)) continue;
    const schema = all[id];
    if (schema === undefined) throw new Error(`OpenAPI operation refers to unregistered schema ${id}`);
    closure.add(id);
    const inner = new Set<string>();
    refsIn(schema, inner);
    pending.push(...inner);
  }
  const schemas = Object.fromEntries([...closure].sort().map((id) => [id, all[id]]));

  return {
    openapi: '3.1.1',
    info: { title: spec.title, version: spec.version, description: spec.description },
    security: requirements(spec, spec.defaultSecurity ?? Object.keys(spec.securitySchemes)),
    paths,
    components: { schemas, securitySchemes: spec.securitySchemes },
  };
}
