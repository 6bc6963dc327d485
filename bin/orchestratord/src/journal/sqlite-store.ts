import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS, newerSchema, TASK_COLUMNS, TASK_UPDATES, USAGE_COLUMNS, USAGE_SUM_SQL } from './migrations.ts';
import type {
  Batch,
  BudgetDay,
  JournalStore,
  ReserveRequest,
  Settlement,
  StoredResponse,
  TaskRecord,
  UsageQuery,
  UsageSum,
} from './records.ts';

/** The result of synchronous work as a promise: a throw becomes a rejection, as from the PostgreSQL store. */
function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

const numbered = (count: number): string => Array.from({ length: count }, (_, i) => `?${i + 1}`).join(', ');

/**
 * The journal in one SQLite file (node:sqlite; HOME). The file is held in exclusive locking mode: a second
 * orchestratord on the same file fails at start instead of sharing it. WAL keeps a write off the readers' way.
 */
export class SqliteStore implements JournalStore {
  readonly kind = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path, { timeout: 0 });
    try {
      this.#db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
      // Exclusive mode takes the lock at the first write: take it now, so a second process fails here.
      this.#db.exec('BEGIN EXCLUSIVE; COMMIT;');
    } catch (error) {
      this.#db.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`ORCHD_DATABASE_URL: cannot hold ${path} (${reason}); is another orchestratord using it?`, {
        cause: error,
      });
    }
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  migrate(): Promise<number> {
    return settled(() => this.#migrate());
  }

  #migrate(): number {
    this.#db.exec('CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL)');
    const row = this.#prepare('SELECT MAX(version) AS version FROM journal_schema').get() as { version: number | null };
    const found = row.version ?? 0;
    if (found > MIGRATIONS.length) throw newerSchema(found);
    for (let version = found + 1; version <= MIGRATIONS.length; version += 1)
      this.#transaction(() => {
        for (const sql of MIGRATIONS[version - 1] ?? [])
          this.#db.exec(sql.replaceAll('{id}', 'INTEGER PRIMARY KEY AUTOINCREMENT'));
        this.#prepare('INSERT INTO journal_schema (version) VALUES (?1)').run(version);
      });
    return MIGRATIONS.length;
  }

  write(batch: Batch): Promise<void> {
    // A record of another owner or request never overwrites one (a client-chosen id is claimed first; see claim).
    const upsert = this.#prepare(
      `INSERT INTO tasks (${TASK_COLUMNS.join(', ')}) VALUES (${numbered(TASK_COLUMNS.length)})
       ON CONFLICT (task_id) DO UPDATE SET ${TASK_UPDATES}
       WHERE tasks.owner = excluded.owner AND tasks.request_hash IS excluded.request_hash`,
    );
    const append = this.#prepare(
      `INSERT INTO usage (${USAGE_COLUMNS.join(', ')}) VALUES (${numbered(USAGE_COLUMNS.length)})`,
    );
    const keep = this.#prepare(
      `INSERT INTO responses (task_id, content_type, body, at) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (task_id) DO UPDATE SET content_type = excluded.content_type, body = excluded.body, at = excluded.at`,
    );
    return settled(() =>
      this.#transaction(() => {
        for (const task of batch.tasks) upsert.run(...TASK_COLUMNS.map((c): SQLInputValue => task[c]));
        for (const row of batch.usage) append.run(...USAGE_COLUMNS.map((c): SQLInputValue => row[c]));
        for (const r of batch.responses) keep.run(r.task_id, r.content_type, r.body, r.at);
        for (const settlement of batch.settlements) this.#settle(settlement);
      }),
    );
  }

  claim(record: TaskRecord): Promise<boolean> {
    return settled(() => {
      const row = this.#prepare(
        `INSERT INTO tasks (${TASK_COLUMNS.join(', ')}) VALUES (${numbered(TASK_COLUMNS.length)})
         ON CONFLICT (task_id) DO UPDATE SET ${TASK_UPDATES}
         WHERE tasks.owner = excluded.owner AND tasks.request_hash IS excluded.request_hash
           AND tasks.state IN ('failed', 'canceled')
         RETURNING task_id`,
      ).get(...TASK_COLUMNS.map((c): SQLInputValue => record[c]));
      return row !== undefined;
    });
  }

  unclaim(taskId: string, admittedAt: number): Promise<void> {
    return settled(() => {
      this.#prepare("DELETE FROM tasks WHERE task_id = ?1 AND admitted_at = ?2 AND state = 'queued'").run(
        taskId,
        admittedAt,
      );
    });
  }

  task(id: string): Promise<TaskRecord | null> {
    return settled(() => {
      const row = this.#prepare('SELECT * FROM tasks WHERE task_id = ?1').get(id);
      return row === undefined ? null : (row as unknown as TaskRecord);
    });
  }

  response(taskId: string): Promise<StoredResponse | null> {
    return settled(() => {
      const row = this.#prepare('SELECT * FROM responses WHERE task_id = ?1').get(taskId);
      return row === undefined ? null : (row as unknown as StoredResponse);
    });
  }

  forgetAnswers(before: number): Promise<number> {
    return settled(() => Number(this.#prepare('DELETE FROM responses WHERE at < ?1').run(before).changes));
  }

  endOrphans(replica: string, now: number, message: string): Promise<number> {
    return settled(() =>
      this.#transaction(() => {
        const orphans = this.#prepare(
          `SELECT owner, budget_day, reserved_tokens, tokens_out FROM tasks
           WHERE replica = ?1 AND state IN ('queued', 'running')`,
        ).all(replica) as unknown as Pick<TaskRecord, 'owner' | 'budget_day' | 'reserved_tokens' | 'tokens_out'>[];
        for (const o of orphans)
          if (o.budget_day !== null && o.reserved_tokens > o.tokens_out)
            this.#settle({
              owner: o.owner,
              day: o.budget_day,
              tokens_back: o.reserved_tokens - o.tokens_out,
              gpu_ms: 0,
            });
        this.#prepare(
          `UPDATE tasks SET state = 'failed', outcome = 'ORCHESTRATOR_RESTART', message = ?2, ended_at = ?3
           WHERE replica = ?1 AND state IN ('queued', 'running')`,
        ).run(replica, message, now);
        return orphans.length;
      }),
    );
  }

  usage(query: UsageQuery): Promise<UsageSum[]> {
    return settled(() => this.#usage(query));
  }

  #usage(query: UsageQuery): UsageSum[] {
    const where = ['at >= ?1', 'at < ?2'];
    const values: SQLInputValue[] = [query.since, query.until];
    if (query.owner !== undefined) {
      values.push(query.owner);
      where.push(`owner = ?${values.length}`);
    }
    if (query.identity !== undefined) {
      values.push(query.identity);
      where.push(`identity = ?${values.length}`);
    }
    const rows = this.#db.prepare(USAGE_SUM_SQL(where.join(' AND '))).all(...values);
    return rows as unknown as UsageSum[];
  }

  reserve(request: ReserveRequest): Promise<BudgetDay | null> {
    return settled(() => this.#reserve(request));
  }

  #reserve(request: ReserveRequest): BudgetDay | null {
    const { owner, day, tokens, tokenLimit, gpuMsLimit } = request;
    // The first reservation of a day starts from what the ledger holds of it (summed once, not per reservation).
    if (this.#prepare('SELECT 1 FROM budget_days WHERE owner = ?1 AND day = ?2').get(owner, day) === undefined)
      this.#prepare(
        `INSERT INTO budget_days (owner, day, tokens, gpu_ms)
         SELECT ?1, ?2, COALESCE(SUM(tokens_out), 0), COALESCE(SUM(gpu_ms), 0) FROM usage
         WHERE owner = ?1 AND at >= ?3 AND at < ?4
         ON CONFLICT DO NOTHING`,
      ).run(owner, day, request.dayStart, request.dayEnd);
    const row = this.#prepare(
      `UPDATE budget_days SET tokens = tokens + ?3
       WHERE owner = ?1 AND day = ?2 AND (?4 IS NULL OR tokens + ?3 <= ?4) AND (?5 IS NULL OR gpu_ms < ?5)
       RETURNING tokens, gpu_ms`,
    ).get(owner, day, tokens, tokenLimit, gpuMsLimit);
    return row === undefined ? null : (row as unknown as BudgetDay);
  }

  #settle(settlement: Settlement): void {
    this.#prepare(
      'UPDATE budget_days SET tokens = MAX(0, tokens - ?3), gpu_ms = gpu_ms + ?4 WHERE owner = ?1 AND day = ?2',
    ).run(settlement.owner, settlement.day, settlement.tokens_back, settlement.gpu_ms);
  }

  settle(settlement: Settlement): Promise<void> {
    return settled(() => this.#settle(settlement));
  }

  budgetDay(owner: string, day: string): Promise<BudgetDay> {
    return settled(() => {
      const row = this.#prepare('SELECT tokens, gpu_ms FROM budget_days WHERE owner = ?1 AND day = ?2').get(owner, day);
      return row === undefined ? { tokens: 0, gpu_ms: 0 } : (row as unknown as BudgetDay);
    });
  }

  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}
