import { contractJsonSchemas, SCHEMA_PREFIX } from './document.ts';

/**
 * A self-contained JSON Schema for one shape (its dependencies under `$defs`), for files that are not HTTP
 * bodies: editors validate LLORCH_CONFIG and handoff files with these.
 */
export function standaloneSchema(id: string, schemaUri: string): Record<string, unknown> {
  const all = contractJsonSchemas();
  const root = all[id];
  if (root === undefined) throw new Error(`unknown contract shape ${id}`);
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) =>
        key === '$ref' && typeof inner === 'string' && inner.startsWith(SCHEMA_PREFIX)
          ? [key, `#/$defs/${inner.slice(SCHEMA_PREFIX.length)}`]
          : [key, rewrite(inner)],
      ),
    );
  };
  const defs = Object.fromEntries(
    Object.entries(all)
      .filter(([other]) => other !== id)
      .map(([other, s]) => [other, rewrite(s)]),
  );
  const used = JSON.stringify(rewrite(root));
  const closure = new Set<string>();
  const visit = (text: string): void => {
    for (const match of text.matchAll(/"#\/\$defs\/(\w+)"/g)) {
      const name = match[1] ?? '';
      if (closure.has(name)) continue;
      closure.add(name);
      visit(JSON.stringify(defs[name]));
    }
  };
  visit(used);
  const $defs = Object.fromEntries([...closure].sort().map((name) => [name, defs[name]]));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: schemaUri,
    ...(rewrite(root) as object),
    $defs,
  };
}
