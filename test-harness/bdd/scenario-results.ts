/**
 * Scenario outcomes from cucumber's message stream (NDJSON, `--format message:<file>`): one line per scenario
 * attempt's last run, with the status that counts (a failed, undefined, ambiguous or pending step fails it; a skipped
 * step with nothing worse skips it) and the reason a skipped one gave.
 */
export type Outcome = 'passed' | 'failed' | 'skipped';

export interface ScenarioResult {
  readonly name: string;
  /** `<uri>:<line>` of the scenario. */
  readonly where: string;
  readonly outcome: Outcome;
  readonly ms: number;
  /** A skipped scenario's reason, a failed one's first error line. */
  readonly detail: string;
}

interface Envelope {
  pickle?: { id: string; uri: string; name: string; location?: { line: number }; tags?: { name: string }[] };
  testCase?: { id: string; pickleId: string };
  testCaseStarted?: { id: string; testCaseId: string; timestamp: Timestamp };
  testStepFinished?: { testCaseStartedId: string; testStepResult: { status: string; message?: string } };
  testCaseFinished?: { testCaseStartedId: string; timestamp: Timestamp; willBeRetried: boolean };
  attachment?: { testCaseStartedId?: string; body: string };
}
interface Timestamp {
  seconds: number;
  nanos: number;
}

const FAILING = new Set(['FAILED', 'UNDEFINED', 'AMBIGUOUS', 'PENDING', 'UNKNOWN']);
const ms = (t: Timestamp): number => t.seconds * 1000 + Math.round(t.nanos / 1e6);

/** What a `@wip` scenario left out of the run says: it is skipped, never passed. */
export const WIP_REASON = '@wip: a known bug (see the comment above the scenario), left out of the run';

/**
 * The results of every scenario that ran; with `listWip`, also every `@wip` scenario that did not run (the default
 * tag filter left it out), as skipped.
 */
export function scenarioResults(ndjson: string, listWip = false): ScenarioResult[] {
  const pickles = new Map<string, NonNullable<Envelope['pickle']>>();
  const cases = new Map<string, string>();
  const attempts = new Map<
    string,
    { pickleId: string; start: number; statuses: string[]; errors: string[]; notes: string[] }
  >();
  const results: ScenarioResult[] = [];
  for (const line of ndjson.split('\n')) {
    if (line.trim() === '') continue;
    const m = JSON.parse(line) as Envelope;
    if (m.pickle) pickles.set(m.pickle.id, m.pickle);
    if (m.testCase) cases.set(m.testCase.id, m.testCase.pickleId);
    if (m.testCaseStarted)
      attempts.set(m.testCaseStarted.id, {
        pickleId: cases.get(m.testCaseStarted.testCaseId) ?? '',
        start: ms(m.testCaseStarted.timestamp),
        statuses: [],
        errors: [],
        notes: [],
      });
    if (m.testStepFinished) {
      const attempt = attempts.get(m.testStepFinished.testCaseStartedId);
      const { status, message } = m.testStepFinished.testStepResult;
      attempt?.statuses.push(status);
      if (message !== undefined && FAILING.has(status)) attempt?.errors.push(message.split('\n')[0] ?? '');
    }
    if (m.attachment?.testCaseStartedId !== undefined)
      attempts.get(m.attachment.testCaseStartedId)?.notes.push(m.attachment.body);
    if (m.testCaseFinished && !m.testCaseFinished.willBeRetried) {
      const attempt = attempts.get(m.testCaseFinished.testCaseStartedId);
      if (attempt === undefined) continue;
      const pickle = pickles.get(attempt.pickleId);
      const outcome: Outcome = attempt.statuses.some((s) => FAILING.has(s))
        ? 'failed'
        : attempt.statuses.includes('SKIPPED')
          ? 'skipped'
          : 'passed';
      results.push({
        name: pickle?.name ?? attempt.pickleId,
        where: `${pickle?.uri ?? '?'}:${pickle?.location?.line ?? '?'}`,
        outcome,
        ms: ms(m.testCaseFinished.timestamp) - attempt.start,
        detail:
          outcome === 'failed'
            ? (attempt.errors[0] ?? '')
            : outcome === 'skipped'
              ? (attempt.notes.find((n) => n.startsWith('skipped: '))?.slice('skipped: '.length) ??
                'a step was skipped')
              : '',
      });
    }
  }
  if (listWip) {
    const ran = new Set(cases.values());
    for (const pickle of pickles.values())
      if (!ran.has(pickle.id) && (pickle.tags ?? []).some((t) => t.name === '@wip'))
        results.push({
          name: pickle.name,
          where: `${pickle.uri}:${pickle.location?.line ?? '?'}`,
          outcome: 'skipped',
          ms: 0,
          detail: WIP_REASON,
        });
  }
  return results;
}
