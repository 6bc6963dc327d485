import type { z } from 'zod';

/** One problem with an input, located by a key path such as `pools[0].slots`. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export type Validated<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly FieldIssue[]; readonly message: string };

/** `['pools', 0, 'slots']` → `pools[0].slots`; the empty path is `(root)`. */
export function formatPath(path: readonly PropertyKey[], root = '(root)'): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? root : out;
}

function issuesOf(error: z.ZodError): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ path: formatPath([...issue.path, key]), message: 'unknown key' });
      }
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest, rather than "invalid input".
      const best = [...issue.errors].sort((a, b) => deepest(b) - deepest(a))[0] ?? [];
      const nested = best.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }));
      if (nested.length === 0) issues.push({ path: formatPath(issue.path), message: issue.message });
      for (const inner of nested) issues.push({ path: formatPath(inner.path), message: inner.message });
    } else {
      issues.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return issues;
}

function deepest(branch: readonly z.core.$ZodIssue[]): number {
  return branch.reduce((max, issue) => Math.max(max, issue.path.length), 0);
}

/** Join issues into one line that names every field, for logs and error envelopes. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}

/** Validate untrusted input against a contract schema; the outcome is a value, never a throw. */
export function validate<S extends z.ZodType>(schema: S, input: unknown): Validated<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const issues = issuesOf(result.error);
  return { ok: false, issues, message: describeIssues(issues) };
}
