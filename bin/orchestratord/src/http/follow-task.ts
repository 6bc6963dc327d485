import type { SSEStreamingApi } from 'hono/streaming';
import type { TaskEvent } from '@llama-orch/contracts';
import type { Task } from '../tasks/task.ts';

/**
 * Feed a task's events (replayed, then live) to `write` over an SSE stream, one at a time and in order, until
 * `write` says the stream is done or the client goes away — which calls `onGone` (the caller decides whether that
 * cancels the task).
 */
export async function followTask(
  stream: SSEStreamingApi,
  task: Task,
  onGone: () => void,
  write: (event: TaskEvent) => Promise<'more' | 'done'>,
): Promise<void> {
  const queue: TaskEvent[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = task.subscribe((event) => {
    queue.push(event);
    wake?.();
  });
  let gone = false;
  const leave = (): void => {
    if (gone) return;
    gone = true;
    onGone();
  };
  stream.onAbort(() => {
    unsubscribe();
    leave();
    wake?.();
  });
  try {
    for (;;) {
      const event = queue.shift();
      if (event === undefined) {
        if (stream.aborted) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if ((await write(event)) === 'done') return;
    }
  } finally {
    unsubscribe();
    leave();
  }
}

/**
 * The task's first event (replayed if it already happened): a stream answer commits to 200 only once the task has
 * started, so a task refused before its first event still gets a proper HTTP error. A client that goes away while
 * waiting calls `onGone` (and resolves null).
 */
export function firstEvent(task: Task, signal: AbortSignal, onGone: () => void): Promise<TaskEvent | null> {
  return new Promise((resolve) => {
    const gone = (): void => {
      unsubscribe();
      onGone();
      resolve(null);
    };
    const unsubscribe = task.subscribe((event) => {
      queueMicrotask(() => unsubscribe());
      signal.removeEventListener('abort', gone);
      resolve(event);
    });
    if (signal.aborted) gone();
    else signal.addEventListener('abort', gone, { once: true });
  });
}
