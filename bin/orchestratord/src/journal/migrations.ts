/**
 * The journal's schema, one migration per version, applied in order at start and recorded in `journal_schema`.
 * Append only: a released migration is never edited; a change is a new version. `{id}` is the dialect's
 * auto-numbered primary key.
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
  // 1: tasks, the usage ledger, budget days, answers kept for their Idempotency-Key.
  [
    `CREATE TABLE tasks (
      task_id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      identity TEXT NOT NULL,
      request_hash TEXT,
      model TEXT NOT NULL,
      priority TEXT NOT NULL,
      replica TEXT NOT NULL,
      state TEXT NOT NULL,
      pool_id TEXT,
      node TEXT,
      tokens_in BIGINT,
      tokens_out BIGINT NOT NULL,
      outcome TEXT,
      message TEXT,
      reserved_tokens BIGINT NOT NULL,
      budget_day TEXT,
      admitted_at BIGINT NOT NULL,
      started_at BIGINT,
      ended_at BIGINT
    )`,
    `CREATE INDEX tasks_live ON tasks (replica) WHERE state IN ('queued', 'running')`,
    `CREATE TABLE usage (
      id {id},
      at BIGINT NOT NULL,
      task_id TEXT NOT NULL,
      owner TEXT NOT NULL,
      identity TEXT NOT NULL,
      model TEXT NOT NULL,
      pool_id TEXT,
      node TEXT,
      tokens_in BIGINT NOT NULL,
      tokens_out BIGINT NOT NULL,
      engine_ms BIGINT NOT NULL,
      gpu_ms BIGINT NOT NULL,
      corrects BIGINT
    )`,
    `CREATE INDEX usage_at ON usage (at)`,
    `CREATE INDEX usage_owner_at ON usage (owner, at)`,
    `CREATE TABLE budget_days (
      owner TEXT NOT NULL,
      day TEXT NOT NULL,
      tokens BIGINT NOT NULL,
      gpu_ms BIGINT NOT NULL,
      PRIMARY KEY (owner, day)
    )`,
    `CREATE TABLE responses (
      task_id TEXT PRIMARY KEY,
      content_type TEXT NOT NULL,
      body TEXT NOT NULL,
      at BIGINT NOT NULL
    )`,
  ],
  // 2: kept answers are deleted by age once past replay (TaskJournal), so they are indexed by it.
  [`CREATE INDEX responses_at ON responses (at)`],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** A schema newer than this build: started by a newer orchestratord; running on would corrupt it. */
export function newerSchema(found: number): Error {
  return new Error(
    `ORCHD_DATABASE_URL: the journal's schema is version ${found}, newer than this orchestratord's ${SCHEMA_VERSION}; run the newer orchestratord or another database`,
  );
}

/** Columns of `tasks`, in the order the upserts bind them. */
export const TASK_COLUMNS = [
  'task_id',
  'owner',
  'identity',
  'request_hash',
  'model',
  'priority',
  'replica',
  'state',
  'pool_id',
  'node',
  'tokens_in',
  'tokens_out',
  'outcome',
  'message',
  'reserved_tokens',
  'budget_day',
  'admitted_at',
  'started_at',
  'ended_at',
] as const;

/** Columns of `usage` a writer sets (the id is numbered by the store). */
export const USAGE_COLUMNS = [
  'at',
  'task_id',
  'owner',
  'identity',
  'model',
  'pool_id',
  'node',
  'tokens_in',
  'tokens_out',
  'engine_ms',
  'gpu_ms',
  'corrects',
] as const;

/** What an upsert of a task changes: everything but who it is and when it was admitted. */
export const TASK_UPDATES = TASK_COLUMNS.filter(
  (c) => !['task_id', 'owner', 'identity', 'request_hash', 'model', 'priority', 'admitted_at'].includes(c),
)
  .map((c) => `${c} = excluded.${c}`)
  .join(', ');

export const USAGE_SUM_SQL = (where: string): string =>
  `SELECT identity, owner, model, COUNT(*) FILTER (WHERE corrects IS NULL) AS tasks,
     SUM(tokens_in) AS tokens_in, SUM(tokens_out) AS tokens_out, SUM(engine_ms) AS engine_ms, SUM(gpu_ms) AS gpu_ms
   FROM usage WHERE ${where} GROUP BY identity, owner, model ORDER BY identity, model`;
