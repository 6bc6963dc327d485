import { terminalEvents, type TaskEvent } from '@llama-orch/contracts';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { outcomeOf, type Task } from '../tasks/task.ts';
import { journalState } from './journal-status.ts';
import type { JournalStore, StoredResponse, TaskRecord, UsageQuery, UsageRow, UsageSum } from './records.ts';

/** Writes wait this long at most, or until this many are pending, before they go to the store in one transaction. */
const FLUSH_MS = 50;
const FLUSH_AT = 512;
/** Past this many records waiting (the store is down or slow), the oldest are dropped and counted: memory is bounded. */
const MAX_PENDING = 100_000;

export interface JournalOptions {
  readonly store: JournalStore;
  /** This orchestratord among those sharing the store (ORCHD_REPLICA_ID). */
  readonly replica: string;
  readonly log: Logger;
  readonly registry: Registry;
}

/**
 * Every task's transitions (admitted → started on a pool → ended, failed or canceled, with tokens and timings), and a
 * usage-ledger row for each task that reached an engine, written to the store in batches off the streaming path: a
 * transition costs a Map set; the store sees one transaction per 50 ms or per 512 writes. A task's latest record
 * replaces its earlier ones still waiting, so a short task costs one row write.
 */
export class TaskJournal {
  readonly #store: JournalStore;
  readonly #replica: string;
  readonly #log: Logger;
  readonly #pending = new Map<string, TaskRecord>();
  #usage: UsageRow[] = [];
  #responses = new Map<string, StoredResponse>();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #closed = false;
  readonly #dropped: Counter;
  readonly #failures: Counter;
  readonly #usageTokens: Counter<'identity' | 'model' | 'direction'>;

  private constructor(options: JournalOptions) {
    this.#store = options.store;
    this.#replica = options.replica;
    this.#log = options.log.child({ journal: options.store.kind });
    const registers = [options.registry];
    const waiting = (): number => this.#pending.size + this.#usage.length + this.#responses.size;
    new Gauge({
      name: 'orchd_journal_pending',
      help: 'Task records and ledger rows waiting to be written to the journal',
      registers,
      collect() {
        this.set(waiting());
      },
    });
    this.#dropped = new Counter({
      name: 'orchd_journal_dropped_total',
      help: 'Journal writes dropped because too many were waiting for a store that failed or fell behind',
      registers,
    });
    this.#failures = new Counter({
      name: 'orchd_journal_write_failures_total',
      help: 'Journal batches the store refused (kept and written again with the next batch)',
      registers,
    });
    this.#usageTokens = new Counter({
      name: 'orchd_usage_tokens_total',
      help: 'Tokens used, from the usage ledger, by client identity (key fingerprint, OIDC subject), model and direction (in: prompt, out: generated)',
      labelNames: ['identity', 'model', 'direction'],
      registers,
    });
  }

  /**
   * Open the journal: migrate the schema, then end every task this replica left live when it last stopped without
   * ending them (a crash, SIGKILL) as failed ORCHESTRATOR_RESTART.
   */
  static async open(options: JournalOptions): Promise<TaskJournal> {
    const version = await options.store.migrate();
    const journal = new TaskJournal(options);
    const ended = await options.store.endOrphans(
      options.replica,
      Date.now(),
      'orchestratord stopped while this task was queued or running; submit it again',
    );
    journal.#log.info({ schema_version: version, replica: options.replica, orphans_ended: ended }, 'task journal open');
    return journal;
  }

  get kind(): JournalStore['kind'] {
    return this.#store.kind;
  }

  /** Follow an admitted task: its record now, again when it starts and when it ends (with its ledger row). */
  track(task: Task): void {
    this.#put(this.#record(task, null));
    const unsubscribe = task.subscribe((event) => {
      if (event.event === 'started') this.#put(this.#record(task, null));
      else if (terminalEvents.has(event.event)) {
        unsubscribe();
        this.#ended(task, event);
      }
    });
  }

  #ended(task: Task, event: TaskEvent): void {
    const record = this.#record(task, event);
    this.#put(record);
    if (task.startedAt === null) return;
    const engineMs = Math.max(0, (record.ended_at ?? Date.now()) - task.startedAt);
    const row: UsageRow = {
      at: record.ended_at ?? Date.now(),
      task_id: task.id,
      owner: record.owner,
      identity: record.identity,
      model: record.model,
      pool_id: record.pool_id,
      node: record.node,
      tokens_in: record.tokens_in ?? 0,
      tokens_out: record.tokens_out,
      engine_ms: engineMs,
      gpu_ms: engineMs * (task.placedOn?.gpus ?? 0),
      corrects: null,
    };
    this.#usage.push(row);
    this.#usageTokens.inc({ identity: row.identity, model: row.model, direction: 'in' }, row.tokens_in);
    this.#usageTokens.inc({ identity: row.identity, model: row.model, direction: 'out' }, row.tokens_out);
    this.#schedule();
  }

  #record(task: Task, end: TaskEvent | null): TaskRecord {
    const endData = end?.event === 'end' ? end.data : null;
    return {
      task_id: task.id,
      owner: task.spec.owner ?? 'anonymous',
      identity: task.spec.identity ?? task.spec.owner ?? 'anonymous',
      request_hash: task.spec.requestHash ?? null,
      model: task.spec.model,
      priority: task.spec.priority,
      replica: this.#replica,
      state: end === null ? (task.startedAt === null ? 'queued' : 'running') : journalState(end),
      pool_id: task.poolId,
      node: task.placedOn?.node ?? null,
      tokens_in: endData?.tokens_in ?? null,
      tokens_out: endData?.tokens_out ?? task.tokensOut(),
      outcome: end === null ? null : outcomeOf(end),
      message: end?.event === 'error' ? end.data.message : null,
      reserved_tokens: task.spec.budget?.tokens ?? 0,
      budget_day: task.spec.budget?.day ?? null,
      admitted_at: task.admittedAt,
      started_at: task.startedAt,
      ended_at: end === null ? null : Date.now(),
    };
  }

  #put(record: TaskRecord): void {
    this.#pending.delete(record.task_id); // re-inserted last: the oldest waiting records stay first
    this.#pending.set(record.task_id, record);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#pending.size + this.#usage.length + this.#responses.size >= FLUSH_AT) {
      void this.flush();
      return;
    }
    this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Write everything waiting now (one transaction); a failed write keeps it for the next, up to MAX_PENDING. */
  flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#flushing !== null) return this.#flushing.then(() => this.flush());
    if (this.#pending.size === 0 && this.#usage.length === 0 && this.#responses.size === 0) return Promise.resolve();
    const tasks = [...this.#pending.values()];
    const usage = this.#usage;
    const responses = [...this.#responses.values()];
    this.#pending.clear();
    this.#usage = [];
    this.#responses.clear();
    this.#flushing = this.#store
      .write(tasks, usage, responses)
      .catch((error: unknown) => {
        this.#failures.inc();
        this.#log.error(
          { err: error, tasks: tasks.length, usage: usage.length },
          'journal write failed; kept for the next',
        );
        for (const record of tasks) if (!this.#pending.has(record.task_id)) this.#pending.set(record.task_id, record);
        this.#usage = [...usage, ...this.#usage];
        for (const r of responses) if (!this.#responses.has(r.task_id)) this.#responses.set(r.task_id, r);
        this.#bound();
        if (!this.#closed) this.#timer ??= setTimeout(() => void this.flush(), 1_000);
      })
      .finally(() => {
        this.#flushing = null;
      });
    return this.#flushing;
  }

  #bound(): void {
    const waiting = (): number => this.#pending.size + this.#usage.length + this.#responses.size;
    const over = waiting() - MAX_PENDING;
    if (over <= 0) return;
    this.#dropped.inc(over);
    // Kept answers go first (a retry then runs again), then the oldest ledger rows, then the oldest records.
    for (const id of this.#responses.keys()) if (waiting() > MAX_PENDING) this.#responses.delete(id);
    if (waiting() > MAX_PENDING) this.#usage.splice(0, Math.min(waiting() - MAX_PENDING, this.#usage.length));
    for (const id of this.#pending.keys()) if (waiting() > MAX_PENDING) this.#pending.delete(id);
  }

  /** Keep a /v1 answer for its Idempotency-Key (written with the next batch). */
  keepResponse(response: StoredResponse): void {
    this.#responses.set(response.task_id, response);
    this.#schedule();
  }

  /** The answer kept for a task: one still waiting to be written, else the store's. */
  async response(taskId: string): Promise<StoredResponse | null> {
    return this.#responses.get(taskId) ?? (await this.#store.response(taskId));
  }

  /** A task's record: one still waiting to be written, else the store's. */
  async task(id: string): Promise<TaskRecord | null> {
    return this.#pending.get(id) ?? (await this.#store.task(id));
  }

  /** Usage per identity and model (what is waiting is written first, so a task that just ended counts). */
  async usage(query: UsageQuery): Promise<UsageSum[]> {
    await this.flush();
    return this.#store.usage(query);
  }

  get store(): JournalStore {
    return this.#store;
  }

  /** Write what waits, then close the store. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#store.close();
  }
}
