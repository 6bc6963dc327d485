/**
 * Requirement traceability: every ID in `.specs/*.md` maps, in `requirements/*.yaml`, to tests that exist.
 * A test is found when a `test(…)`, `it(…)` or `describe(…)` call in the named file has that name, either as
 * a plain string or as a template literal whose `${…}` parts stand for any text. BDD scenarios prove requirements
 * too: a scenario tagged `@ORCH-0001` (or under a Feature or Rule so tagged) proves ORCH-0001, and a tagged ID that
 * .specs does not define is a problem.
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
  /** The feature files (`test-harness/features/**\/*.feature`): repository-relative path and text. */
  readonly features?: readonly { readonly file: string; readonly text: string }[];
}

/** How a requirement is proven: by a BDD scenario, a node:test mapped in requirements/, both, or neither yet. */
export type ProofKind = 'both' | 'scenario' | 'test' | 'none';

export interface TraceReport {
  readonly problems: readonly string[];
  readonly pending: readonly RequirementEntry[];
  /** Every spec ID by how it is proven. */
  readonly proofs: ReadonlyMap<string, ProofKind>;
}

export interface TaggedScenario {
  readonly name: string;
  readonly line: number;
  /** The requirement-like tags (`PREFIX-NNNN`) of the scenario, its Rule and its Feature. */
  readonly ids: readonly string[];
  /** Tagged `@wip` (itself, or its Rule or Feature): a known bug, left out of the run; it proves nothing yet. */
  readonly wip: boolean;
}

const WIP = 'WIP';

/** Scenarios of a feature file with the requirement IDs they are tagged with (inherited from Feature and Rule). */
export function taggedScenariosIn(feature: string): TaggedScenario[] {
  const scenarios: TaggedScenario[] = [];
  let pending: string[] = [];
  let featureIds: string[] = [];
  let ruleIds: string[] = [];
  for (const [index, raw] of feature.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line.startsWith('@')) {
      pending.push(...[...line.matchAll(/@([A-Z]+-\d{4})(?![\w-])/g)].map((m) => m[1] ?? ''));
      if (/(^|\s)@wip(?![\w-])/.test(line)) pending.push(WIP);
      continue;
    }
    const keyword = /^(Feature|Rule|Scenario Outline|Scenario Template|Scenario|Example|Examples):\s*(.*)$/.exec(line);
    if (keyword === null) continue;
    const [, kind = '', name = ''] = keyword;
    if (kind === 'Feature') [featureIds, ruleIds] = [pending, []];
    else if (kind === 'Rule') ruleIds = pending;
    else if (kind !== 'Examples') {
      const tags = new Set([...featureIds, ...ruleIds, ...pending]);
      scenarios.push({ name, line: index + 1, ids: [...tags].filter((t) => t !== WIP), wip: tags.has(WIP) });
    }
    pending = [];
  }
  return scenarios;
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

  const byScenario = new Set<string>();
  for (const { file, text } of input.features ?? [])
    for (const scenario of taggedScenariosIn(text))
      for (const id of scenario.ids) {
        if (!specIds.has(id))
          problems.push(
            `${id} tags the scenario "${scenario.name}" (${file}:${scenario.line}) but is not defined in .specs`,
          );
        else if (!scenario.wip) byScenario.add(id);
      }
  const byTest = new Set(input.entries.filter((e) => e.status !== 'pending' && e.tests.length > 0).map((e) => e.id));
  const proofs = new Map<string, ProofKind>();
  for (const id of specIds)
    proofs.set(
      id,
      byScenario.has(id) && byTest.has(id)
        ? 'both'
        : byScenario.has(id)
          ? 'scenario'
          : byTest.has(id)
            ? 'test'
            : 'none',
    );
  return { problems, pending: input.entries.filter((entry) => entry.status === 'pending'), proofs };
}
