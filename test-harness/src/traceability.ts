/**
 * Requirement traceability: every ID in `.specs/*.md` maps, in `requirements/*.yaml`, to tests that exist.
 * A test is found when a `test(…)`, `it(…)` or `describe(…)` call in the named file has that name, either as
 * a plain string or as a template literal whose `${…}` parts stand for any text.
 */
import { z } from 'zod';

export const RequirementEntrySchema = z.strictObject({
  id: z.string().regex(/^(ORCH|POOL|PROV|CLOUD|SEC|OBS)-\d{4}$/),
  status: z.literal('pending').optional(),
  issue: z.int().min(1).optional(),
  tests: z.array(z.strictObject({ file: z.string().min(1), name: z.string().min(1) })).default([]),
});
export type RequirementEntry = z.output<typeof RequirementEntrySchema>;

export interface TraceInput {
  readonly specIds: readonly string[];
  readonly entries: readonly RequirementEntry[];
  /** File text by repository-relative path, or undefined when the file does not exist. */
  readonly readTestFile: (file: string) => string | undefined;
}

export interface TraceReport {
  readonly problems: readonly string[];
  readonly pending: readonly RequirementEntry[];
}

export function specIdsIn(markdown: string): string[] {
  return [...markdown.matchAll(/\*\*((?:ORCH|POOL|PROV|CLOUD|SEC|OBS)-\d{4})\*\*/g)].map((m) => m[1] ?? '');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Names of the tests declared in a file: plain strings as they are, template literals as patterns. */
export function testNamesIn(source: string): RegExp[] {
  const names: RegExp[] = [];
  const call = /\b(?:test|it|describe|suite)\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|`((?:[^`\\]|\\.)*)`)/g;
  for (const match of source.matchAll(call)) {
    const plain = match[1] ?? match[2];
    if (plain !== undefined) {
      names.push(new RegExp(`^${escape(plain.replace(/\\(.)/g, '$1'))}$`));
    } else {
      const template = match[3] ?? '';
      const parts = template.split(/\$\{[^}]*\}/).map((part) => escape(part.replace(/\\(.)/g, '$1')));
      names.push(new RegExp(`^${parts.join('.+')}$`));
    }
  }
  return names;
}

export function checkTraceability(input: TraceInput): TraceReport {
  const problems: string[] = [];
  const specIds = new Set(input.specIds);
  const seen = new Set<string>();
  const namesByFile = new Map<string, RegExp[] | undefined>();

  for (const id of input.specIds.filter((id, i, all) => all.indexOf(id) !== i))
    problems.push(`${id} is defined twice in .specs`);
  for (const entry of input.entries) {
    if (seen.has(entry.id)) problems.push(`${entry.id} is mapped twice in requirements/`);
    seen.add(entry.id);
    if (!specIds.has(entry.id)) problems.push(`${entry.id} is mapped in requirements/ but not defined in .specs`);
    if (entry.status === 'pending' && entry.issue === undefined)
      problems.push(`${entry.id} is pending without an issue number`);
    if (entry.status !== 'pending' && entry.tests.length === 0) problems.push(`${entry.id} maps to no test`);
    for (const { file, name } of entry.tests) {
      if (!namesByFile.has(file)) {
        const source = input.readTestFile(file);
        namesByFile.set(file, source === undefined ? undefined : testNamesIn(source));
      }
      const names = namesByFile.get(file);
      if (names === undefined) problems.push(`${entry.id} maps to ${file}, which does not exist`);
      else if (!names.some((pattern) => pattern.test(name)))
        problems.push(`${entry.id} maps to "${name}", which ${file} does not declare`);
    }
  }
  for (const id of specIds)
    if (!seen.has(id)) problems.push(`${id} is defined in .specs but mapped to no test in requirements/`);
  return { problems, pending: input.entries.filter((entry) => entry.status === 'pending') };
}
