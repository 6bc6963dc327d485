import pg from 'pg';
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

/** Any lock id would do: one that only the journal's migrations take, so replicas starting together run them once. */
const MIGRATION_LOCK = 0x6c6f7263;
/** BIGINT and NUMERIC (SUM) come back as strings from pg; every one the journal holds fits a double. */
const asNumber = (value: unknown): number | null => (value === null ? null : Number(value));
const NUMERIC_TASK_COLUMNS = ['tokens_in', 'tokens_out', 'reserved_tokens', 'admitted_at', 'started_at', 'ended_at'];
const PG_TYPES: Record<string, string> = {
  tokens_in: 'bigint',
  tokens_out: 'bigint',
  reserved_tokens: 'bigint',
  admitted_at: 'bigint',
  started_at: 'bigint',
  ended_at: 'bigint',
  at: 'bigint',
  engine_ms: 'bigint',
  gpu_ms: 'bigint',
  corrects: 'bigint',
};
const arrayOf = (column: string): string => `${PG_TYPES[column] ?? 'text'}[]`;
const settleValues = (s: Settlement): unknown[] => [s.owner, s.day, s.tokens_back, s.gpu_ms];

/**
 * The journal in PostgreSQL (CLOUD): every orchestratord replica shares it. A batch is one statement per table
 * (`unnest` of column arrays), and a budget reservation is one conditional UPDATE, which PostgreSQL applies to the
 * row under its lock: two replicas reserving at once can never both pass the limit.
 */
export class PostgresStore implements JournalStore {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;

  constructor(url: string) {
    // A server that stops answering (a half-open connection) fails a query after 10 s instead of holding admission.
    this.#pool = new pg.Pool({
      connectionString: url,
      max: 8,
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
      statement_timeout: 10_000,
      keepAlive: true,
    });
    // A connection that breaks while idle is dropped by the pool; the next query opens another.
    this.#pool.on('error', () => undefined);
  }

  /** Run `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<number> {
    return this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL)');
      const { rows } = await client.query<{ version: number | null }>(
        'SELECT MAX(version) AS version FROM journal_schema',
      );
      const found = rows[0]?.version ?? 0;
      if (found > MIGRATIONS.length) throw newerSchema(found);
      for (let version = found + 1; version <= MIGRATIONS.length; version += 1) {
        for (const sql of MIGRATIONS[version - 1] ?? [])
          await client.query(sql.replaceAll('{id}', 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY'));
        await client.query('INSERT INTO journal_schema (version) VALUES ($1)', [version]);
      }
      return MIGRATIONS.length;
    });
  }

  async write(batch: Batch): Promise<void> {
    const { tasks, usage, responses } = batch;
    await this.#transaction(async (client) => {
      if (tasks.length > 0)
        await client.query(
          `INSERT INTO tasks (${TASK_COLUMNS.join(', ')})
           SELECT * FROM unnest(${TASK_COLUMNS.map((c, i) => `$${i + 1}::${arrayOf(c)}`).join(', ')})
           ON CONFLICT (task_id) DO UPDATE SET ${TASK_UPDATES}
           WHERE tasks.owner = excluded.owner AND tasks.request_hash IS NOT DISTINCT FROM excluded.request_hash`,
          TASK_COLUMNS.map((c) => tasks.map((t) => t[c])),
        );
      if (usage.length > 0)
        await client.query(
          `INSERT INTO usage (${USAGE_COLUMNS.join(', ')})
           SELECT * FROM unnest(${USAGE_COLUMNS.map((c, i) => `$${i + 1}::${arrayOf(c)}`).join(', ')})`,
          USAGE_COLUMNS.map((c) => usage.map((u) => u[c])),
        );
      if (responses.length > 0)
        await client.query(
          `INSERT INTO responses (task_id, content_type, body, at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
           ON CONFLICT (task_id) DO UPDATE SET content_type = excluded.content_type, body = excluded.body, at = excluded.at`,
          [
            responses.map((r) => r.task_id),
            responses.map((r) => r.content_type),
            responses.map((r) => r.body),
            responses.map((r) => r.at),
          ],
        );
      for (const settlement of batch.settlements) await client.query(this.#settleSql, settleValues(settlement));
    });
  }

  async claim(record: TaskRecord): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `INSERT INTO tasks (${TASK_COLUMNS.join(', ')}) VALUES (${TASK_COLUMNS.map((c, i) => `$${i + 1}::${PG_TYPES[c] ?? 'text'}`).join(', ')})
       ON CONFLICT (task_id) DO UPDATE SET ${TASK_UPDATES}
       WHERE tasks.owner = excluded.owner AND tasks.request_hash IS NOT DISTINCT FROM excluded.request_hash
         AND tasks.state IN ('failed', 'canceled')`,
      TASK_COLUMNS.map((c) => record[c]),
    );
    return rowCount === 1;
  }

  async unclaim(taskId: string, admittedAt: number): Promise<void> {
    await this.#pool.query("DELETE FROM tasks WHERE task_id = $1 AND admitted_at = $2 AND state = 'queued'", [
      taskId,
      admittedAt,
    ]);
  }

  async task(id: string): Promise<TaskRecord | null> {
    const { rows } = await this.#pool.query<Record<string, unknown>>('SELECT * FROM tasks WHERE task_id = $1', [id]);
    const row = rows[0];
    if (row === undefined) return null;
    for (const column of NUMERIC_TASK_COLUMNS) row[column] = asNumber(row[column]);
    return row as unknown as TaskRecord;
  }

  async response(taskId: string): Promise<StoredResponse | null> {
    const { rows } = await this.#pool.query<Record<string, unknown>>('SELECT * FROM responses WHERE task_id = $1', [
      taskId,
    ]);
    const row = rows[0];
    return row === undefined
      ? null
      : {
          task_id: String(row['task_id']),
          content_type: String(row['content_type']),
          body: String(row['body']),
          at: Number(row['at']),
        };
  }

  async forgetAnswers(before: number): Promise<number> {
    const { rowCount } = await this.#pool.query('DELETE FROM responses WHERE at < $1', [before]);
    return rowCount ?? 0;
  }

  async endOrphans(replica: string, now: number, message: string): Promise<number> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query<{ owner: string; budget_day: string; back: string }>(
        `UPDATE tasks SET state = 'failed', outcome = 'ORCHESTRATOR_RESTART', message = $2, ended_at = $3
         WHERE replica = $1 AND state IN ('queued', 'running')
         RETURNING owner, budget_day, GREATEST(0, reserved_tokens - tokens_out) AS back`,
        [replica, message, now],
      );
      for (const row of rows)
        if (row.budget_day !== null && Number(row.back) > 0)
          await client.query(
            this.#settleSql,
            settleValues({ owner: row.owner, day: row.budget_day, tokens_back: Number(row.back), gpu_ms: 0 }),
          );
      return rows.length;
    });
  }

  async usage(query: UsageQuery): Promise<UsageSum[]> {
    const where = ['at >= $1', 'at < $2'];
    const values: unknown[] = [query.since, query.until];
    if (query.owner !== undefined) {
      values.push(query.owner);
      where.push(`owner = $${values.length}`);
    }
    if (query.identity !== undefined) {
      values.push(query.identity);
      where.push(`identity = $${values.length}`);
    }
    const { rows } = await this.#pool.query<Record<string, unknown>>(USAGE_SUM_SQL(where.join(' AND ')), values);
    return rows.map((r) => ({
      identity: String(r['identity']),
      owner: String(r['owner']),
      model: String(r['model']),
      tasks: Number(r['tasks']),
      tokens_in: Number(r['tokens_in']),
      tokens_out: Number(r['tokens_out']),
      engine_ms: Number(r['engine_ms']),
      gpu_ms: Number(r['gpu_ms']),
    }));
  }

  async reserve(request: ReserveRequest): Promise<BudgetDay | null> {
    const { owner, day, tokens, tokenLimit, gpuMsLimit } = request;
    const reserve = (): Promise<pg.QueryResult<{ tokens: string; gpu_ms: string }>> =>
      this.#pool.query<{ tokens: string; gpu_ms: string }>(
        `UPDATE budget_days SET tokens = tokens + $3
         WHERE owner = $1 AND day = $2 AND ($4::bigint IS NULL OR tokens + $3 <= $4::bigint)
           AND ($5::bigint IS NULL OR gpu_ms < $5::bigint)
         RETURNING tokens, gpu_ms`,
        [owner, day, tokens, tokenLimit, gpuMsLimit],
      );
    let answer = await reserve();
    if (
      answer.rowCount === 0 &&
      (await this.#pool.query('SELECT 1 FROM budget_days WHERE owner = $1 AND day = $2', [owner, day])).rowCount === 0
    ) {
      // The first reservation of a day starts from what the ledger holds of it (summed once, not per reservation).
      await this.#pool.query(
        `INSERT INTO budget_days (owner, day, tokens, gpu_ms)
         SELECT $1, $2, COALESCE(SUM(tokens_out), 0), COALESCE(SUM(gpu_ms), 0) FROM usage
         WHERE owner = $1 AND at >= $3::bigint AND at < $4::bigint
         ON CONFLICT DO NOTHING`,
        [owner, day, request.dayStart, request.dayEnd],
      );
      answer = await reserve();
    }
    const row = answer.rows[0];
    return row === undefined ? null : { tokens: Number(row.tokens), gpu_ms: Number(row.gpu_ms) };
  }

  readonly #settleSql =
    'UPDATE budget_days SET tokens = GREATEST(0, tokens - $3), gpu_ms = gpu_ms + $4 WHERE owner = $1 AND day = $2';

  async settle(settlement: Settlement): Promise<void> {
    await this.#pool.query(this.#settleSql, settleValues(settlement));
  }

  async budgetDay(owner: string, day: string): Promise<BudgetDay> {
    const { rows } = await this.#pool.query<{ tokens: string; gpu_ms: string }>(
      'SELECT tokens, gpu_ms FROM budget_days WHERE owner = $1 AND day = $2',
      [owner, day],
    );
    const row = rows[0];
    return row === undefined ? { tokens: 0, gpu_ms: 0 } : { tokens: Number(row.tokens), gpu_ms: Number(row.gpu_ms) };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
