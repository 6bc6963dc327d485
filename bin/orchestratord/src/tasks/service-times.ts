import type { DispatchRequest } from '@llama-orch/contracts';

/** Weight of the newest sample in every moving average (about the last 10 tasks count). */
const ALPHA = 0.1;
/** Until a pool has finished a task: a guess for a small model on CPU, replaced by the first measurements. */
const DEFAULTS = { overheadMs: 50, decodeMs: 20, charsPerToken: 4, unboundedTokens: 256, startLagMs: 5 } as const;
/** Prompt lengths must spread by this many tokens (one standard deviation) before prefill and overhead are told apart. */
const MIN_SPREAD_TOKENS = 8;
/** When they cannot be told apart, a prompt token is taken to cost this fraction of an output token. */
const PREFILL_PER_DECODE = 1 / 8;
/** The keys of an engine request that hold its prompt text, and those that limit its output. */
const PROMPT_KEYS = ['prompt', 'messages', 'input', 'system', 'query', 'documents'] as const;
const LIMIT_KEYS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'n_predict'] as const;

/** What a task asks of a slot, known at admission. */
export interface TaskWork {
  /** Characters of prompt text (JSON of the prompt, messages, inputs): its tokens are estimated with the measured ratio. */
  readonly promptChars: number;
  /** The request's output token limit; null when it sets none (the engine stops at end of text or context). */
  readonly maxTokens: number | null;
  /** The task's expected_tokens hint, capped by maxTokens; null when it gave none. */
  readonly expectedTokens: number | null;
  /** The answer streams token by token (a non-streamed answer shows no decode rate). */
  readonly streamed: boolean;
}

/** A task's work, from its engine request and its expected_tokens hint. */
export function workOf(engine: DispatchRequest, expectedTokens?: number): TaskWork {
  const body = engine.body;
  let promptChars = 0;
  for (const key of PROMPT_KEYS) {
    const value = body[key];
    if (value !== undefined) promptChars += typeof value === 'string' ? value.length : JSON.stringify(value).length;
  }
  const limit = LIMIT_KEYS.map((key) => body[key]).find((v): v is number => typeof v === 'number' && v > 0);
  const maxTokens = limit === undefined ? null : Math.floor(limit);
  const hint = expectedTokens === undefined ? null : Math.min(expectedTokens, maxTokens ?? Infinity);
  return { promptChars, maxTokens, expectedTokens: hint, streamed: body['stream'] === true };
}

/** Work of many tasks at once: linear in every rate, so one sum prices them all on any pool with today's rates. */
export class WorkSum {
  count = 0;
  promptChars = 0;
  /** Output tokens of the tasks with an expected_tokens hint. */
  hinted = 0;
  /** max_tokens of the tasks without a hint. */
  bounded = 0;
  /** Tasks with neither. */
  unbounded = 0;

  /** The work of both sums together. */
  static of(...sums: readonly WorkSum[]): WorkSum {
    const total = new WorkSum();
    for (const sum of sums) {
      total.count += sum.count;
      total.promptChars += sum.promptChars;
      total.hinted += sum.hinted;
      total.bounded += sum.bounded;
      total.unbounded += sum.unbounded;
    }
    return total;
  }

  add(work: TaskWork, sign: 1 | -1 = 1): void {
    this.count += sign;
    this.promptChars += sign * work.promptChars;
    if (work.expectedTokens !== null) this.hinted += sign * work.expectedTokens;
    else if (work.maxTokens !== null) this.bounded += sign * work.maxTokens;
    else this.unbounded += sign;
  }
}

/** One finished task, as measured from its dispatch. */
export interface ServiceSample {
  readonly work: TaskWork;
  /** tokens_in the engine reported; null when it did not. */
  readonly tokensIn: number | null;
  readonly tokensOut: number;
  /** Dispatch to `started` (the pool answered), to the first token, to the end. */
  readonly startLagMs: number;
  readonly firstTokenMs: number | null;
  readonly totalMs: number;
}

const ewma = (previous: number, sample: number): number => previous + ALPHA * (sample - previous);

/**
 * The measured service model of one pool: the time a task holds a slot is
 * `overhead + tokens_in × prefill + expected output tokens × decode`, where the expected output is the task's
 * expected_tokens hint, else its max_tokens × the share of max_tokens this pool's tasks really produced, else (no
 * limit) what unlimited tasks produced here. Time to first token is fitted against tokens_in by least squares over
 * exponentially weighted sums (overhead = intercept, prefill = slope); decode is the time per output token after the
 * first. Measured under the load the pool really carries, so the rates hold for a pool kept busy.
 */
export class PoolServiceModel {
  charsPerToken: number = DEFAULTS.charsPerToken;
  /** tokens_out / max_tokens of the tasks that had a limit. */
  fill = 1;
  unboundedTokens: number = DEFAULTS.unboundedTokens;
  /** Dispatch to the pool's answer (`started`): added to a predicted start. */
  startLagMs: number = DEFAULTS.startLagMs;
  samples = 0;
  /** Exponentially weighted sums of (tokens_in, time to first token) samples. */
  readonly #fit = { w: 0, x: 0, y: 0, xx: 0, xy: 0 };
  /** Exponentially weighted decode time and output tokens after the first: a long task weighs more than a short one. */
  readonly #decode = { ms: 0, tokens: 0 };

  /** Time per output token after the first. */
  get decodeMs(): number {
    return this.#decode.tokens === 0 ? DEFAULTS.decodeMs : this.#decode.ms / this.#decode.tokens;
  }

  /** Fixed time per task (dispatch, relay, slot setup) and time per prompt token. */
  get rates(): { readonly overheadMs: number; readonly prefillMs: number } {
    const { w, x, y, xx, xy } = this.#fit;
    if (w === 0) return { overheadMs: DEFAULTS.overheadMs, prefillMs: this.decodeMs * PREFILL_PER_DECODE };
    const mx = x / w;
    const my = y / w;
    const variance = xx / w - mx * mx;
    let prefillMs =
      variance >= MIN_SPREAD_TOKENS ** 2
        ? Math.max(0, (xy / w - mx * my) / variance)
        : this.decodeMs * PREFILL_PER_DECODE;
    let overheadMs = my - prefillMs * mx;
    if (overheadMs < 0) {
      overheadMs = 0;
      prefillMs = mx > 0 ? my / mx : 0;
    }
    return { overheadMs, prefillMs };
  }

  tokensIn(work: TaskWork): number {
    return work.promptChars / this.charsPerToken;
  }

  tokensOut(work: TaskWork): number {
    if (work.expectedTokens !== null) return work.expectedTokens;
    if (work.maxTokens !== null) return work.maxTokens * this.fill;
    return this.unboundedTokens;
  }

  /** Expected time the task holds a slot, dispatch to end. */
  slotMs(work: TaskWork): number {
    const { overheadMs, prefillMs } = this.rates;
    return overheadMs + prefillMs * this.tokensIn(work) + this.decodeMs * this.tokensOut(work);
  }

  /** Expected slot time of all the tasks in `sum` together. */
  sumMs(sum: WorkSum): number {
    const { overheadMs, prefillMs } = this.rates;
    const tokensOut = sum.hinted + sum.bounded * this.fill + sum.unbounded * this.unboundedTokens;
    return sum.count * overheadMs + (prefillMs * sum.promptChars) / this.charsPerToken + this.decodeMs * tokensOut;
  }

  /**
   * Time left to a running task: before its first token, what is left of overhead and prefill plus all its output;
   * after, its output still to come (at least one token: a task past its expected output is about to end).
   */
  remainingMs(work: TaskWork, elapsedMs: number, tokensSoFar: number, firstTokenSeen: boolean): number {
    const out = this.tokensOut(work);
    if (!firstTokenSeen) {
      const { overheadMs, prefillMs } = this.rates;
      return Math.max(0, overheadMs + prefillMs * this.tokensIn(work) - elapsedMs) + this.decodeMs * out;
    }
    return this.decodeMs * Math.max(1, out - tokensSoFar);
  }

  observe(sample: ServiceSample): void {
    const { work, tokensIn, tokensOut } = sample;
    this.samples += 1;
    this.startLagMs = ewma(this.startLagMs, sample.startLagMs);
    if (work.expectedTokens === null && work.maxTokens !== null)
      this.fill = ewma(this.fill, Math.min(1, tokensOut / work.maxTokens));
    if (work.expectedTokens === null && work.maxTokens === null)
      this.unboundedTokens = ewma(this.unboundedTokens, tokensOut);
    if (tokensIn !== null && tokensIn > 0 && work.promptChars > 0)
      this.charsPerToken = ewma(this.charsPerToken, work.promptChars / tokensIn);
    // A non-streamed answer arrives whole: its "first token" is its end, so it tells neither rate apart.
    if (!work.streamed || sample.firstTokenMs === null) return;
    const keep = 1 - ALPHA;
    if (tokensOut >= 2) {
      this.#decode.ms = this.#decode.ms * keep + (sample.totalMs - sample.firstTokenMs);
      this.#decode.tokens = this.#decode.tokens * keep + (tokensOut - 1);
    }
    const x = tokensIn ?? this.tokensIn(work);
    const fit = this.#fit;
    fit.w = fit.w * keep + 1;
    fit.x = fit.x * keep + x;
    fit.y = fit.y * keep + sample.firstTokenMs;
    fit.xx = fit.xx * keep + x * x;
    fit.xy = fit.xy * keep + x * sample.firstTokenMs;
  }
}

/** The service model of every pool, measured from the tasks that finished on it (see PoolServiceModel). */
export class ServiceTimes {
  readonly #pools = new Map<string, PoolServiceModel>();

  /** The pool's model (the defaults until one of its tasks has finished). */
  model(poolId: string): PoolServiceModel {
    let model = this.#pools.get(poolId);
    if (model === undefined) this.#pools.set(poolId, (model = new PoolServiceModel()));
    return model;
  }

  observe(poolId: string, sample: ServiceSample): void {
    this.model(poolId).observe(sample);
  }
}
