import { LineCounter, parseDocument } from 'yaml';
import { NodeConfigSchema, validate, type FieldIssue, type NodeConfig, type Validated } from '@llama-orch/contracts';

function lineOf(
  doc: ReturnType<typeof parseDocument>,
  counter: LineCounter,
  path: readonly (string | number)[],
): number | null {
  for (let depth = path.length; depth >= 0; depth -= 1) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) return counter.linePos(node.range[0]).line;
  }
  return null;
}

function splitPath(path: string): (string | number)[] {
  if (path === '(root)') return [];
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] ?? '')));
}

/**
 * Parse the node/pool YAML config. Problems come back as values naming the key path (and the line), e.g.
 * `pools[0].slots (line 7): Too small: expected number to be >=1`.
 */
export function parseNodeConfig(text: string, source: string): Validated<NodeConfig> {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues: FieldIssue[] = doc.errors.map((error) => {
      const pos = counter.linePos(error.pos[0]);
      return {
        path: `(yaml line ${pos.line}, column ${pos.col})`,
        message: error.message.split('\n')[0] ?? error.code,
      };
    });
    return {
      ok: false,
      issues,
      message: `${source}: not valid YAML: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    };
  }
  const result = validate(NodeConfigSchema, doc.toJS() ?? {});
  if (result.ok) return result;
  const issues = result.issues.map((issue) => {
    const line = lineOf(doc, counter, splitPath(issue.path));
    return { path: line === null ? issue.path : `${issue.path} (line ${line})`, message: issue.message };
  });
  return { ok: false, issues, message: `${source}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` };
}
