import type { SSEStreamingApi } from 'hono/streaming';
import type { TaskEvent } from '@llama-orch/contracts';
import type { Task } from '../tasks/task.ts';

/**
 * Feed a task's events (replayed, then live) to `write` over an SSE stream, one at a time and in order, until
 * `write` says the stream is done or the client goes away — which calls `onGone` (the caller cancels the task).
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
  stream.onAbort(() => {
    unsubscribe();
    if (!task.ended) onGone();
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
  }
}
