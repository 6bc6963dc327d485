import type { Priority } from '@llama-orch/contracts';
import { IndexedFifo } from './indexed-fifo.ts';

export type AdmissionPolicy = 'reject' | 'drop-lru';

export interface Queued<T> {
  readonly id: string;
  readonly priority: Priority;
  readonly item: T;
  /**
   * Tasks of one class are feasible on exactly the same pools (same model, same placement request), so only the
   * oldest of each class needs a placement decision. Default: one class.
   */
  readonly class?: string;
}

export type EnqueueOutcome<T> =
  | { readonly kind: 'queued'; readonly position: number; readonly evicted: Queued<T> | null }
  | { readonly kind: 'rejected' };

interface Slot<T> {
  readonly entry: Queued<T>;
  readonly seq: number;
}

const PRIORITIES = ['interactive', 'batch'] as const;

/**
 * The bounded admission queue: one capacity shared by two FIFO classes, `interactive` before `batch`.
 * When full, `reject` refuses the newcomer; `drop-lru` evicts the oldest batch task (or refuses when there is
 * none and the newcomer is batch too — interactive work is never evicted for batch work).
 *
 * Cost does not grow with the queue (ARCHITECTURE §6.10): enqueue, remove and eviction are O(1) (indexed FIFOs);
 * `take` looks only at the head of each placement class, so its cost grows with the number of classes
 * (models × placement requests in the queue), never with the number of queued tasks.
 */
export class AdmissionQueue<T> {
  readonly capacity: number;
  readonly policy: AdmissionPolicy;
  /** Per priority, every queued task in admission order. */
  readonly #order: Record<Priority, IndexedFifo<Slot<T>>> = {
    interactive: new IndexedFifo(),
    batch: new IndexedFifo(),
  };
  /** Per priority and placement class, its tasks in admission order; empty classes are dropped. */
  readonly #classes: Record<Priority, Map<string, IndexedFifo<Slot<T>>>> = {
    interactive: new Map(),
    batch: new Map(),
  };
  #seq = 0;
  /** Requeued work gets ever smaller sequence numbers: it is older than anything admitted. */
  #front = -1;

  constructor(capacity: number, policy: AdmissionPolicy) {
    this.capacity = capacity;
    this.policy = policy;
  }

  get size(): number {
    return this.#order.interactive.size + this.#order.batch.size;
  }

  depth(priority: Priority): number {
    return this.#order[priority].size;
  }

  enqueue(entry: Queued<T>): EnqueueOutcome<T> {
    let evicted: Queued<T> | null = null;
    if (this.size >= this.capacity) {
      if (this.policy === 'reject' || this.capacity === 0) return { kind: 'rejected' };
      const victim = this.#order.batch.first;
      if (victim === undefined) return { kind: 'rejected' };
      this.#delete(victim);
      evicted = victim.entry;
    }
    const slot: Slot<T> = { entry, seq: this.#seq++ };
    if (this.#order.interactive.has(entry.id) || this.#order.batch.has(entry.id))
      throw new Error(`task ${entry.id} is already queued`);
    this.#order[entry.priority].push(entry.id, slot);
    const key = entry.class ?? '';
    let members = this.#classes[entry.priority].get(key);
    if (members === undefined) this.#classes[entry.priority].set(key, (members = new IndexedFifo()));
    members.push(entry.id, slot);
    // The newcomer is last of its priority: every interactive task, and for batch every batch task, precede it.
    const position =
      entry.priority === 'interactive'
        ? this.#order.interactive.size - 1
        : this.#order.interactive.size + this.#order.batch.size - 1;
    return { kind: 'queued', position, evicted };
  }

  /**
   * Put an admitted task back at the front of its priority and class (its dispatch was refused as busy): it keeps
   * its place ahead of later work and is not counted against the capacity again.
   */
  requeue(entry: Queued<T>): void {
    if (this.#order.interactive.has(entry.id) || this.#order.batch.has(entry.id))
      throw new Error(`task ${entry.id} is already queued`);
    const slot: Slot<T> = { entry, seq: this.#front-- };
    this.#order[entry.priority].unshift(entry.id, slot);
    const key = entry.class ?? '';
    let members = this.#classes[entry.priority].get(key);
    if (members === undefined) this.#classes[entry.priority].set(key, (members = new IndexedFifo()));
    members.unshift(entry.id, slot);
  }

  /** Remove every task of a placement class (of both priorities), oldest first. */
  removeClass(key: string): Queued<T>[] {
    const removed: Queued<T>[] = [];
    for (const priority of PRIORITIES) {
      const members = this.#classes[priority].get(key);
      if (members === undefined) continue;
      for (const slot of [...members.values()]) {
        this.#delete(slot);
        removed.push(slot.entry);
      }
    }
    return removed;
  }

  /** The oldest task of each class, interactive classes first. */
  *heads(): IterableIterator<Queued<T>> {
    for (const priority of PRIORITIES)
      for (const members of this.#classes[priority].values()) {
        const head = members.first;
        if (head !== undefined) yield head.entry;
      }
  }

  /** 0-based place among the tasks that start before it (diagnostics; O(n), not used per admission). */
  position(id: string): number | null {
    let index = 0;
    for (const priority of PRIORITIES) {
      for (const slot of this.#order[priority].values()) {
        if (slot.entry.id === id) return index;
        index += 1;
      }
    }
    return null;
  }

  remove(id: string): Queued<T> | null {
    for (const priority of PRIORITIES) {
      const slot = this.#order[priority].get(id);
      if (slot !== undefined) {
        this.#delete(slot);
        return slot.entry;
      }
    }
    return null;
  }

  /**
   * Take the oldest task, interactive before batch, among the heads of the placement classes for which `runnable`
   * is true. `runnable` is asked once per class head, never for the tasks queued behind a head.
   */
  take(runnable: (entry: Queued<T>) => boolean): Queued<T> | null {
    for (const priority of PRIORITIES) {
      let best: Slot<T> | null = null;
      for (const members of this.#classes[priority].values()) {
        const head = members.first;
        if (head !== undefined && (best === null || head.seq < best.seq) && runnable(head.entry)) best = head;
      }
      if (best !== null) {
        this.#delete(best);
        return best.entry;
      }
    }
    return null;
  }

  entries(): Queued<T>[] {
    return PRIORITIES.flatMap((priority) => [...this.#order[priority].values()].map((slot) => slot.entry));
  }

  #delete(slot: Slot<T>): void {
    const { priority, id } = slot.entry;
    const key = slot.entry.class ?? '';
    this.#order[priority].delete(id);
    const members = this.#classes[priority].get(key);
    members?.delete(id);
    if (members?.size === 0) this.#classes[priority].delete(key);
  }
}
