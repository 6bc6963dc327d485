import { completeRound, streamRound, type RoundResult, type Target } from './stream-client.ts';
import { percentile, ratios, summarize, type Summary } from './stats.ts';

export interface Comparison {
  readonly concurrency: number;
  readonly baseline: Summary;
  readonly candidate: Summary;
  /** candidate ÷ baseline tokens/s, per pair of alternated rounds. */
  readonly ratio: Summary;
  /** candidate minus baseline time to first token, over every stream of every round (ms). */
  readonly addedFirstTokenP50: number;
  readonly addedFirstTokenP99: number;
  /** Mean output tokens per request, baseline and candidate: a proxy that drops a parameter shows here. */
  readonly tokensPerRequest: { readonly baseline: number; readonly candidate: number };
  /**
   * CPU time (user + system) of named processes over the whole comparison, both sides' rounds and warm-ups, per
   * token the candidate streamed (µs): what each daemon spends on a token, its idle polling included.
   */
  readonly cpuPerTokenUs?: Readonly<Record<string, number>>;
}

export interface CompareOptions {
  readonly concurrency: number;
  readonly rounds: number;
  readonly body: Record<string, unknown>;
  readonly mode?: 'stream' | 'complete';
}

const round = (target: Target, options: CompareOptions): Promise<RoundResult> =>
  (options.mode ?? 'stream') === 'stream'
    ? streamRound(target, options.concurrency, options.body)
    : completeRound(target, options.concurrency, options.body);

const tokensPerSecond = (r: RoundResult): number => r.tokens / (r.wallMs / 1000);

/** Alternate baseline and candidate rounds (A B A B …) after one warm-up round of each; nothing else runs between. */
export async function compare(baseline: Target, candidate: Target, options: CompareOptions): Promise<Comparison> {
  await round(baseline, options);
  await round(candidate, options);
  const a: RoundResult[] = [];
  const b: RoundResult[] = [];
  for (let i = 0; i < options.rounds; i += 1) {
    // Which goes first swaps every round, so neither side always follows the other's tail.
    if (i % 2 === 0) {
      a.push(await round(baseline, options));
      b.push(await round(candidate, options));
    } else {
      b.push(await round(candidate, options));
      a.push(await round(baseline, options));
    }
  }
  const aTps = a.map(tokensPerSecond);
  const bTps = b.map(tokensPerSecond);
  const aFirst = a.flatMap((r) => r.firstTokenMs);
  const bFirst = b.flatMap((r) => r.firstTokenMs);
  return {
    concurrency: options.concurrency,
    baseline: summarize(aTps),
    candidate: summarize(bTps),
    ratio: summarize(ratios(bTps, aTps)),
    addedFirstTokenP50: percentile(bFirst, 50) - percentile(aFirst, 50),
    addedFirstTokenP99: percentile(bFirst, 99) - percentile(aFirst, 99),
    tokensPerRequest: {
      baseline: a.reduce((sum, r) => sum + r.tokens, 0) / (a.length * options.concurrency),
      candidate: b.reduce((sum, r) => sum + r.tokens, 0) / (b.length * options.concurrency),
    },
  };
}
