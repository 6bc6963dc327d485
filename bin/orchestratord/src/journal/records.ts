import type { TaskStateName } from '@llama-orch/contracts';

/** A task as the journal keeps it: the latest of its state transitions (admitted, started, ended). */
export interface TaskRecord {
  readonly task_id: string;
  /** Who may reach it (an identity's owner key); `identity` is its label, what the ledger and logs show. */
  readonly owner: string;
  readonly identity: string;
  /** sha256 of the canonical request: the same task_id again is the same task only with the same hash. */
  readonly request_hash: string | null;
  readonly model: string;
  readonly priority: string;
  /** The orchestratord that admitted it (ORCHD_REPLICA_ID): only it ends the task after a crash. */
  readonly replica: string;
  readonly state: TaskStateName;
  readonly pool_id: string | null;
  readonly node: string | null;
  readonly tokens_in: number | null;
  readonly tokens_out: number;
  /** The end's finish_reason or the error's code; null while live. */
  readonly outcome: string | null;
  readonly message: string | null;
  /** Output tokens reserved against the identity's daily budget, and that budget's day; 0 and null without one. */
  readonly reserved_tokens: number;
  readonly budget_day: string | null;
  readonly admitted_at: number;
  readonly started_at: number | null;
  readonly ended_at: number | null;
}

/** One row of the append-only usage ledger; a correction is another row (negative where it takes back). */
export interface UsageRow {
  readonly at: number;
  readonly task_id: string;
  readonly owner: string;
  readonly identity: string;
  readonly model: string;
  readonly pool_id: string | null;
  readonly node: string | null;
  readonly tokens_in: number;
  readonly tokens_out: number;
  readonly engine_ms: number;
  /** Slot time × the pool's GPUs, in ms (0 on CPU). */
  readonly gpu_ms: number;
  /** The ledger row this one corrects; null for an original. */
  readonly corrects: number | null;
}

/** How long a kept /v1 answer is replayed for its Idempotency-Key; a retry later runs again, and the answer goes. */
export const ANSWER_KEPT_MS = 24 * 3_600_000;

/** A /v1 answer kept for its Idempotency-Key: a retry of the same request gets it again instead of a second run. */
export interface StoredResponse {
  readonly task_id: string;
  readonly content_type: string;
  readonly body: string;
  readonly at: number;
}

/** Output tokens a task's reservation gives back (negative: it produced more and is charged), and GPU time used. */
export interface Settlement {
  readonly owner: string;
  readonly day: string;
  readonly tokens_back: number;
  readonly gpu_ms: number;
}

/** What one transaction writes: task records (upserted), ledger rows, kept answers, budget settlements. */
export interface Batch {
  readonly tasks: readonly TaskRecord[];
  readonly usage: readonly UsageRow[];
  readonly responses: readonly StoredResponse[];
  readonly settlements: readonly Settlement[];
}

export interface UsageQuery {
  readonly since: number;
  readonly until: number;
  /** Only this owner's rows (a client asking); undefined: all (an admin). */
  readonly owner?: string | undefined;
  /** Only this identity label. */
  readonly identity?: string | undefined;
}

export interface UsageSum {
  readonly identity: string;
  readonly owner: string;
  readonly model: string;
  readonly tasks: number;
  readonly tokens_in: number;
  readonly tokens_out: number;
  readonly engine_ms: number;
  readonly gpu_ms: number;
}

/** What an identity has committed on one UTC day: output tokens used or reserved, and GPU time used. */
export interface BudgetDay {
  readonly tokens: number;
  readonly gpu_ms: number;
}

export interface ReserveRequest {
  readonly owner: string;
  readonly day: string;
  /** The day's bounds (ms since the epoch): its first reservation starts from what the ledger holds of that day. */
  readonly dayStart: number;
  readonly dayEnd: number;
  readonly tokens: number;
  /** Refuse when tokens committed + `tokens` would pass this; null: no token limit. */
  readonly tokenLimit: number | null;
  /** Refuse when the GPU time already used reaches this; null: no GPU limit. */
  readonly gpuMsLimit: number | null;
}

/**
 * Where the journal lives: SQLite in one file (HOME; one orchestratord) or PostgreSQL (CLOUD; replicas share it).
 * Every method is one atomic step of the store; `reserve` most of all, which must never let two concurrent callers
 * both pass a limit.
 */
export interface JournalStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Apply the migrations this build knows, in order; a schema newer than this build stops the start. */
  migrate(): Promise<number>;
  /**
   * Upsert task records (each the latest of its task; a record of another owner or request never overwrites one),
   * append ledger rows, keep answers and settle budgets, in one transaction.
   */
  write(batch: Batch): Promise<void>;
  /**
   * Claim a client-chosen task id for a new run: insert its record, or take over a finished record of the same owner
   * and request that may run again (failed or canceled). False when the id is held (live anywhere, or another's).
   */
  claim(record: TaskRecord): Promise<boolean>;
  /** Drop a claim whose task was refused after all (still queued, admitted at `admittedAt`): as if never made. */
  unclaim(taskId: string, admittedAt: number): Promise<void>;
  task(id: string): Promise<TaskRecord | null>;
  response(taskId: string): Promise<StoredResponse | null>;
  /** Delete the answers kept before `before` (ms since the epoch; past replay): how many. */
  forgetAnswers(before: number): Promise<number>;
  /**
   * End every task `replica` left queued or running (it crashed) as failed ORCHESTRATOR_RESTART, returning their
   * budget reservations less what they had produced; how many were ended.
   */
  endOrphans(replica: string, now: number, message: string): Promise<number>;
  usage(query: UsageQuery): Promise<UsageSum[]>;
  /** Atomically add `tokens` to the day's committed tokens unless a limit forbids it; null when refused. */
  reserve(request: ReserveRequest): Promise<BudgetDay | null>;
  /** Give back `tokens_back` of a reservation (negative: charge more) and add GPU time used. */
  settle(settlement: Settlement): Promise<void>;
  budgetDay(owner: string, day: string): Promise<BudgetDay>;
  close(): Promise<void>;
}
