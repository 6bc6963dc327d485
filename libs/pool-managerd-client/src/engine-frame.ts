import type { DispatchRequest } from '@llama-orch/contracts';

/** What one engine SSE frame means for a task, whichever generation route produced it. */
export interface EngineFrame {
  readonly text: string | null;
  readonly done: boolean;
  readonly finishReason: 'stop' | 'length' | null;
  readonly tokensIn: number | null;
}

interface CompletionFrame {
  content?: string;
  stop?: boolean;
  stop_type?: string;
  tokens_evaluated?: number;
}
interface OpenAIFrame {
  choices?: { delta?: { content?: string | null }; text?: string; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number } | null;
}

const finish = (reason: string | null | undefined): 'stop' | 'length' | null =>
  reason === 'length' ? 'length' : reason ? 'stop' : null;

/** Parse one `data:` payload of llama-server's `/completion`, `/v1/chat/completions` or `/v1/completions` stream. */
export function parseEngineFrame(endpoint: DispatchRequest['endpoint'], data: string): EngineFrame | null {
  if (data.trim() === '[DONE]') return { text: null, done: true, finishReason: null, tokensIn: null };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  if (endpoint === '/completion') {
    const frame = json as CompletionFrame;
    const text = typeof frame.content === 'string' && frame.content !== '' ? frame.content : null;
    if (frame.stop === true) {
      return {
        text,
        done: true,
        finishReason: frame.stop_type === 'limit' ? 'length' : 'stop',
        tokensIn: frame.tokens_evaluated ?? null,
      };
    }
    return { text, done: false, finishReason: null, tokensIn: null };
  }
  const frame = json as OpenAIFrame;
  const choice = frame.choices?.[0];
  const piece = choice?.delta?.content ?? choice?.text ?? null;
  return {
    text: typeof piece === 'string' && piece !== '' ? piece : null,
    done: false,
    finishReason: finish(choice?.finish_reason),
    tokensIn: frame.usage?.prompt_tokens ?? null,
  };
}
