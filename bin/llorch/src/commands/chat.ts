import { createParser } from 'eventsource-parser';
import { ModelListSchema, validate } from '@llama-orch/contracts';
import { request } from 'undici';
import type { LlorchEnv } from '../config.ts';
import { authHeaders } from './status.ts';

/** `llorch chat "<prompt>" [--model m] [--max-tokens n]`: stream an answer to the terminal. */
export async function chat(
  env: LlorchEnv,
  prompt: string,
  model: string | undefined,
  maxTokens: number,
): Promise<number> {
  try {
    let chosen = model;
    if (chosen === undefined) {
      const models = validate(
        ModelListSchema,
        await request(`${env.url}/v1/models`, { headers: authHeaders(env) }).then((r) => r.body.json()),
      );
      chosen = models.ok ? models.value.data[0]?.id : undefined;
      if (chosen === undefined) throw new Error('no model is ready yet');
    }
    const answer = await request(`${env.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(env) },
      body: JSON.stringify({
        model: chosen,
        messages: [{ role: 'user', content: prompt }],
        max_tokens: maxTokens,
        stream: true,
      }),
    });
    if (answer.statusCode !== 200) {
      const body = (await answer.body.json()) as { error?: { message?: string } };
      throw new Error(body.error?.message ?? `HTTP ${answer.statusCode}`);
    }
    const parser = createParser({
      onEvent: (event) => {
        if (event.data === '[DONE]') return;
        const chunk = JSON.parse(event.data) as {
          choices?: { delta?: { content?: string } }[];
          error?: { message: string };
        };
        if (chunk.error) throw new Error(chunk.error.message);
        process.stdout.write(chunk.choices?.[0]?.delta?.content ?? '');
      },
    });
    for await (const piece of answer.body) parser.feed((piece as Buffer).toString('utf8'));
    process.stdout.write('\n');
    return 0;
  } catch (error) {
    process.stderr.write(`llorch chat: ${(error as Error).message}\n`);
    return 1;
  }
}
