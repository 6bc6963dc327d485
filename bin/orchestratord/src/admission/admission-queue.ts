import type { Priority } from '@llama-orch/contracts';

export type AdmissionPolicy = 'reject' | 'drop-lru';

export interface Queued<T> {
  readonly id: string;
  readonly priority: Priority;
  readonly item: T;
}

export type EnqueueOutcome<T> =
  | { readonly kind: 'queued'; readonly position: number; readonly evicted: Queued<T> | null }
  | { readonly kind: 'rejected' };

/**
 * The bounded admission queue: one capacity shared by two FIFO classes, `interactive` before `batch`.
 * When full, `reject` refuses the newcomer; `drop-lru` evicts the oldest batch task (or refuses when there is
 * none and the newcomer is batch too — interactive work is never evicted for batch work).
 */
export class AdmissionQueue<T> {
  readonly capacity: number;
  readonly policy: AdmissionPolicy;
  readonly #classes: Record<Priority, Queued<T>[]> = { interactive: [], batch: [] };

  constructor(capacity: number, policy: AdmissionPolicy) {
    this.capacity = capacity;
    this.policy = policy;
  }

  get size(): number {
    return this.#classes.interactive.length + this.#classes.batch.length;
  }

  depth(priority: Priority): number {
    return this.#classes[priority].length;
  }

  enqueue(entry: Queued<T>): EnqueueOutcome<T> {
    let evicted: Queued<T> | null = null;
    if (this.size >= this.capacity) {
      if (this.policy === 'reject' || this.capacity === 0) return { kind: 'rejected' };
      const victim = this.#classes.batch[0];
      if (victim === undefined) return { kind: 'rejected' };
      this.#classes.batch.shift();
      evicted = victim;
    }
    this.#classes[entry.priority].push(entry);
    return { kind: 'queued', position: this.position(entry.id) ?? 0, evicted };
  }

  /** 0-based place among the tasks that start before it (every interactive task precedes a batch one). */
  position(id: string): number | null {
    const i = this.#classes.interactive.findIndex((e) => e.id === id);
    if (i >= 0) return i;
    const b = this.#classes.batch.findIndex((e) => e.id === id);
    return b >= 0 ? this.#classes.interactive.length + b : null;
  }

  remove(id: string): Queued<T> | null {
    for (const priority of ['interactive', 'batch'] as const) {
      const list = this.#classes[priority];
      const i = list.findIndex((e) => e.id === id);
      if (i >= 0) return list.splice(i, 1)[0] ?? null;
    }
    return null;
  }

  /** Take the first task, interactive before batch and FIFO within each, for which `runnable` is true. */
  take(runnable: (entry: Queued<T>) => boolean): Queued<T> | null {
    for (const priority of ['interactive', 'batch'] as const) {
      const list = this.#classes[priority];
      const i = list.findIndex(runnable);
      if (i >= 0) return list.splice(i, 1)[0] ?? null;
    }
    return null;
  }

  entries(): Queued<T>[] {
    return [...this.#classes.interactive, ...this.#classes.batch];
  }
}
