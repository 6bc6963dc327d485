import type { LlorchEnv } from '../config.ts';
import { defaultModel, streamTurn, type ChatMessage } from './chat-stream.ts';
import { terminal } from './output.ts';

export interface ChatOptions {
  readonly prompt: string;
  readonly model: string | undefined;
  readonly system: string | undefined;
  readonly maxTokens: number;
}

/**
 * `llorch chat "<prompt>"`: stream one answer to stdout. A reader that stops reading (`| head -c 50`) cancels the
 * task on the server and ends the command quietly with exit code 0.
 */
export async function chat(env: LlorchEnv, options: ChatOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  try {
    const model = options.model ?? (await defaultModel(env));
    if (model === null) throw new Error(`no model is ready yet at ${env.url} (llorch status shows the pools)`);
    const messages: ChatMessage[] = [
      ...(options.system === undefined ? [] : [{ role: 'system' as const, content: options.system }]),
      { role: 'user', content: options.prompt },
    ];
    const outcome = await streamTurn(
      env,
      { model, messages, maxTokens: options.maxTokens },
      (text) => stdout.write(text),
      stdout.gone,
    );
    switch (outcome.kind) {
      case 'done':
        stdout.write('\n');
        return 0;
      case 'canceled':
        return 0;
      case 'failed':
        if (outcome.text !== '') stdout.write('\n');
        stderr.write(`llorch chat: ${outcome.message}\n`);
        return 1;
    }
  } catch (error) {
    stderr.write(`llorch chat: orchestratord at ${env.url}: ${(error as Error).message}\n`);
    return 1;
  }
}
