import { h } from 'preact';
import { useRef, useState } from 'preact/hooks';
import htm from 'htm';
import type { PoolStatus } from '@llama-orch/contracts';
import { ApiError, readEvents } from './api.ts';
import { ms, rate } from './format.ts';

const html = htm.bind(h);

interface Run {
  readonly output: string;
  readonly tokens: number;
  readonly firstTokenMs: number | null;
  readonly tokensPerS: number | null;
  readonly state: 'streaming' | 'done' | 'stopped' | 'failed';
  readonly error?: string;
}

interface ChatChunk {
  readonly choices?: readonly { readonly delta?: { readonly content?: string | null } }[];
}

/** Pick a model, type a prompt, watch the tokens stream (POST /v1/chat/completions with stream: true). */
export function Playground(props: { pools: readonly PoolStatus[] }) {
  const models = [
    ...new Set(props.pools.filter((p) => (p.kind ?? 'completion') === 'completion').map((p) => p.model)),
  ].sort();
  const [model, setModel] = useState<string>('');
  const [prompt, setPrompt] = useState('Say hello in one sentence.');
  const [maxTokens, setMaxTokens] = useState(128);
  const [run, setRun] = useState<Run | null>(null);
  const abort = useRef<AbortController | null>(null);
  const chosen = models.includes(model) ? model : (models[0] ?? '');

  const send = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (chosen === '' || abort.current !== null) return;
    const controller = new AbortController();
    abort.current = controller;
    const started = performance.now();
    let output = '';
    let tokens = 0;
    let first: number | null = null;
    const show = (state: Run['state'], error?: string): void => {
      const decoding = first === null ? 0 : (performance.now() - started - first) / 1000;
      setRun({
        output,
        tokens,
        firstTokenMs: first,
        tokensPerS: tokens > 1 && decoding > 0 ? (tokens - 1) / decoding : null,
        state,
        ...(error === undefined ? {} : { error }),
      });
    };
    show('streaming');
    const body = JSON.stringify({
      model: chosen,
      messages: [{ role: 'user', content: prompt }],
      max_tokens: maxTokens,
      stream: true,
    });
    try {
      await readEvents('/v1/chat/completions', { method: 'POST', body, signal: controller.signal }, (message) => {
        if (message.data === '[DONE]') return;
        const chunk = JSON.parse(message.data) as ChatChunk;
        const text = chunk.choices?.[0]?.delta?.content;
        if (typeof text !== 'string' || text === '') return;
        output += text;
        tokens += 1;
        first ??= performance.now() - started;
        show('streaming');
      });
      show('done');
    } catch (error) {
      const stopped = controller.signal.aborted;
      controller.abort(); // whatever went wrong, the chat stops on the server too
      if (stopped) show('stopped');
      else show('failed', error instanceof ApiError || error instanceof Error ? error.message : String(error));
    } finally {
      abort.current = null;
    }
  };

  return html`<form class="playground" onSubmit=${(e: Event) => void send(e)}>
    <div class="row">
      <label
        >model
        <select
          value=${chosen}
          onChange=${(e: Event) => setModel((e.currentTarget as HTMLSelectElement).value)}
          data-testid="playground-model"
        >
          ${models.map((m) => html`<option key=${m} value=${m}>${m}</option>`)}
        </select>
      </label>
      <label
        >max tokens
        <input
          type="number"
          min="1"
          max="4096"
          value=${maxTokens}
          onInput=${(e: Event) => setMaxTokens(Number((e.currentTarget as HTMLInputElement).value) || 1)}
        />
      </label>
    </div>
    <textarea
      rows="3"
      value=${prompt}
      onInput=${(e: Event) => setPrompt((e.currentTarget as HTMLTextAreaElement).value)}
      data-testid="playground-prompt"
    ></textarea>
    <div class="row">
      <button type="submit" disabled=${run?.state === 'streaming' || chosen === ''} data-testid="playground-send">
        Send
      </button>
      <button type="button" disabled=${run?.state !== 'streaming'} onClick=${() => abort.current?.abort()}>Stop</button>
      ${
        run !== null
          ? html`<span class="muted" data-testid="playground-stats" data-state=${run.state} data-tokens=${run.tokens}>
              ${run.state} · ${run.tokens} tokens · first token ${ms(run.firstTokenMs)} · ${rate(run.tokensPerS)} tok/s
            </span>`
          : null
      }
    </div>
    ${run?.error !== undefined ? html`<p class="error" data-testid="playground-error">${run.error}</p>` : null}
    <pre class="output" data-testid="playground-output">${run?.output ?? ''}</pre>
  </form>`;
}
