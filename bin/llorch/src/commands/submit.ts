import { createParser } from 'eventsource-parser';
import { AdmissionResponseSchema, validate } from '@llama-orch/contracts';
import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { terminal } from './output.ts';
import { cancelTask } from './cancel-task.ts';
import { authHeaders } from './status.ts';

export interface SubmitOptions {
  readonly prompt: string;
  readonly model: string;
  readonly maxTokens: number;
  readonly priority: 'interactive' | 'batch';
  readonly session: string | undefined;
}

/**
 * `llorch submit`: a /v2 task; prints the admission and then every event as `event <json>` lines. A reader that
 * stops reading (`| head -c 50`) cancels the task and ends the command quietly with exit code 0.
 */
export async function submit(env: LlorchEnv, options: SubmitOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  try {
    const answer = await request(`${env.url}/v2/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(env) },
      body: JSON.stringify({
        model_ref: options.model,
        prompt: options.prompt,
        max_tokens: options.maxTokens,
        priority: options.priority,
        ...(options.session ? { session_id: options.session } : {}),
      }),
    });
    const body: unknown = await answer.body.json();
    const admitted = validate(AdmissionResponseSchema, body);
    if (answer.statusCode !== 202 || !admitted.ok) {
      stderr.write(`llorch submit: HTTP ${answer.statusCode} ${JSON.stringify(body)}\n`);
      return 1;
    }
    const taskId = admitted.value.task_id;
    stdout.write(`admitted ${JSON.stringify(admitted.value)}\n`);
    const following = new AbortController();
    const onGone = (): void => following.abort();
    stdout.gone.addEventListener('abort', onGone, { once: true });
    if (stdout.gone.aborted) following.abort();
    let failed = false;
    try {
      const events = await request(`${env.url}${admitted.value.streams.sse}`, {
        headers: authHeaders(env),
        signal: following.signal,
      });
      const parser = createParser({
        onEvent: (event) => {
          if (event.event === 'error') failed = true;
          stdout.write(`${event.event ?? 'message'} ${event.data}\n`);
        },
      });
      const decoder = new TextDecoder(); // a character may be split between two chunks
      for await (const piece of events.body) parser.feed(decoder.decode(piece as Buffer, { stream: true }));
    } catch (error) {
      if (!stdout.gone.aborted) throw error;
    } finally {
      stdout.gone.removeEventListener('abort', onGone);
    }
    if (stdout.gone.aborted) {
      // Nobody reads the tokens any more: cancel now rather than after the reconnect grace.
      await cancelTask(env, taskId);
      return 0;
    }
    return failed ? 1 : 0;
  } catch (error) {
    stderr.write(`llorch submit: orchestratord at ${env.url}: ${(error as Error).message}\n`);
    return 1;
  }
}

/** `llorch pools drain <id> [--deadline-ms n]` and `llorch pools reload <id> --model <ref>`. */
export async function pools(
  env: LlorchEnv,
  action: 'drain' | 'reload',
  poolId: string,
  body: Record<string, unknown>,
): Promise<number> {
  try {
    const answer = await request(`${env.url}/v2/pools/${encodeURIComponent(poolId)}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(env) },
      body: JSON.stringify(body),
    });
    const text = await answer.body.text();
    const ok =
      answer.statusCode === 200 && !(action === 'reload' && (JSON.parse(text) as { ok?: boolean }).ok === false);
    (ok ? process.stdout : process.stderr).write(`${text}\n`);
    return ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`llorch pools: orchestratord at ${env.url}: ${(error as Error).message}\n`);
    return 1;
  }
}
