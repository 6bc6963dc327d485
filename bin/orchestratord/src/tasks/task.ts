import type { Span } from '@opentelemetry/api';
import { terminalEvents, type DispatchRequest, type Priority, type TaskEvent } from '@llama-orch/contracts';
import type { PlacementRequest } from '../placement/place.ts';

export interface TaskSpec {
  readonly id: string;
  readonly model: string;
  readonly priority: Priority;
  readonly sessionId: string | undefined;
  readonly deadlineMs: number | undefined;
  readonly placement: PlacementRequest['placement'];
  /** What pool-managerd relays to the engine; always streamed from the engine. */
  readonly engine: DispatchRequest;
}

export type TaskState = 'queued' | 'running' | 'done';

/**
 * One admitted task and its event log. `emit` enforces invariant 1: `started` → `token`* (with `metrics`) →
 * exactly one terminal event, after which nothing is recorded or sent.
 */
export class Task {
  readonly spec: TaskSpec;
  readonly admittedAt = Date.now();
  readonly abort = new AbortController();
  state: TaskState = 'queued';
  poolId: string | null = null;
  /** The task's trace span (a no-op unless tracing is on); its children are admission, placement, dispatch, stream. */
  span: Span | null = null;
  readonly #events: TaskEvent[] = [];
  readonly #listeners = new Set<(event: TaskEvent) => void>();

  constructor(spec: TaskSpec) {
    this.spec = spec;
  }

  get id(): string {
    return this.spec.id;
  }

  get ended(): boolean {
    const last = this.#events.at(-1);
    return last !== undefined && terminalEvents.has(last.event);
  }

  get events(): readonly TaskEvent[] {
    return this.#events;
  }

  /** Record and publish an event; false (and nothing sent) once the task has ended. */
  emit(event: TaskEvent): boolean {
    if (this.ended) return false;
    if (terminalEvents.has(event.event)) {
      this.state = 'done';
      const outcome =
        event.event === 'end'
          ? (event.data.finish_reason ?? 'stop')
          : event.event === 'error'
            ? event.data.code
            : event.event;
      this.span?.setAttribute('task.outcome', outcome);
      this.span?.end();
    }
    this.#events.push(event);
    for (const listener of [...this.#listeners]) listener(event);
    return true;
  }

  /** Replay what happened so far, then follow; returns the unsubscribe function. */
  subscribe(listener: (event: TaskEvent) => void): () => void {
    for (const event of this.#events) listener(event);
    if (this.ended) return () => undefined;
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  tokensOut(): number {
    return this.#events.filter((e) => e.event === 'token').length;
  }
}
