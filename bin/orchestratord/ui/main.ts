import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import type { Overview, OverviewPoint } from '@llama-orch/contracts';
import { api, ApiError, apiKey, forgetApiKey, readEvents, saveApiKey } from './api.ts';
import { Charts } from './chart.ts';
import { Playground } from './playground.ts';
import { Nodes } from './pools.ts';
import { Queue, Tasks } from './tasks.ts';

const html = htm.bind(h);
performance.mark('llorch:main');

const STREAM = '/v2/overview/events';
/** The first connection is asked for as this module runs, while the page renders its frame; the App takes it over. */
let early: { response: Promise<Response>; controller: AbortController } | null = (() => {
  const controller = new AbortController();
  return { response: api(STREAM, { signal: controller.signal }), controller };
})();

/** Seconds of throughput the charts keep (what orchestratord keeps). */
const HISTORY = 300;
const RECONNECT_MS = 2_000;

type Connection =
  | { readonly kind: 'connecting' }
  | { readonly kind: 'live' }
  | { readonly kind: 'needs-key'; readonly message: string }
  | { readonly kind: 'down'; readonly message: string };

function KeyForm(props: { message: string; onKey: (key: string) => void }) {
  const [key, setKey] = useState('');
  return html`<form
    class="key-form"
    data-testid="key-form"
    onSubmit=${(e: Event) => {
      e.preventDefault();
      if (key.trim() !== '') props.onKey(key.trim());
    }}
  >
    <h2>API key</h2>
    <p>
      This orchestratord asks who you are. The key is kept in this tab only (session storage), and sent as a header.
    </p>
    <p class="error" data-testid="key-message">${props.message}</p>
    <input
      type="password"
      autocomplete="off"
      placeholder="API key"
      value=${key}
      onInput=${(e: Event) => setKey((e.currentTarget as HTMLInputElement).value)}
      data-testid="key-input"
    />
    <button type="submit" data-testid="key-submit">Connect</button>
  </form>`;
}

/** The stream's first picture of a connection carries the whole history; later ones the seconds since. */
function merge(kept: readonly OverviewPoint[], picture: Overview, first: boolean): OverviewPoint[] {
  const points = first ? picture.throughput : [...kept, ...picture.throughput];
  return points.slice(-HISTORY);
}

function App() {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [points, setPoints] = useState<OverviewPoint[]>([]);
  const [connection, setConnection] = useState<Connection>({ kind: 'connecting' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const taken = early;
    early = null;
    const controller = taken?.controller ?? new AbortController();
    let retry: number | undefined;
    let first = true;
    const again = (message: string): void => {
      setConnection({ kind: 'down', message });
      retry = window.setTimeout(() => setAttempt((n) => n + 1), RECONNECT_MS);
    };
    setConnection((now) => (now.kind === 'live' ? now : { kind: 'connecting' })); // a routine reconnect shows nothing
    readEvents(taken?.response ?? STREAM, { signal: controller.signal }, (message) => {
      if (message.event !== 'overview') return;
      if (first) performance.mark('llorch:first-event');
      const picture = JSON.parse(message.data) as Overview;
      const isFirst = first;
      first = false;
      setPoints((kept) => merge(kept, picture, isFirst));
      setOverview(picture);
      setConnection({ kind: 'live' });
    }).then(
      // orchestratord ends each stream after a minute (credentials are checked again): the next one opens at once.
      () => {
        if (!controller.signal.aborted) setAttempt((n) => n + 1);
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status === 401 && !error.retriable) {
          forgetApiKey(); // a refused key is not offered again
          setConnection({ kind: 'needs-key', message: error.message });
        } else again(error instanceof Error ? error.message : String(error));
      },
    );
    return () => {
      controller.abort();
      window.clearTimeout(retry);
    };
  }, [attempt]);

  // For anyone measuring the page (test-harness/bench/ui.ts): when the picture on screen was taken.
  useEffect(() => {
    if (overview === null) return;
    if (document.body.dataset['overviewAt'] === undefined) performance.mark('llorch:first-overview');
    document.body.dataset['overviewAt'] = String(overview.at);
  }, [overview]);

  const reconnect = (): void => setAttempt((n) => n + 1);
  if (connection.kind === 'needs-key')
    return html`<main>
      <${KeyForm}
        message=${connection.message}
        onKey=${(key: string) => {
          saveApiKey(key);
          reconnect();
        }}
      />
    </main>`;

  const status =
    connection.kind === 'live'
      ? 'live'
      : connection.kind === 'connecting'
        ? 'connecting…'
        : `disconnected (${connection.message}); retrying`;
  return html`<main>
    <header class="top">
      <h1>llama-orch</h1>
      <span class=${`connection connection-${connection.kind}`} data-testid="connection">${status}</span>
      ${overview !== null ? html`<span class="muted">orchestratord ${overview.version} · ${overview.viewer.label}${overview.viewer.admin ? ' (admin)' : ''}</span>` : null}
      ${
        apiKey() !== null
          ? html`<button
              class="link"
              onClick=${() => {
                forgetApiKey();
                reconnect();
              }}
            >
              forget key
            </button>`
          : null
      }
    </header>
    ${
      overview === null
        ? html`<p class="muted">Waiting for the first picture…</p>`
        : html`
            <section>
              <h2 class="section">Nodes and pools</h2>
              <${Nodes} pools=${overview.pools} admin=${overview.viewer.admin} />
            </section>
            <section>
              <h2 class="section">Queue</h2>
              <${Queue} queue=${overview.queue} /><${Charts} points=${points} />
            </section>
            <section>
              <h2 class="section">Tasks</h2>
              <${Tasks} tasks=${overview.tasks} />
            </section>
            <section>
              <h2 class="section">Playground</h2>
              <${Playground} pools=${overview.pools} />
            </section>
          `
    }
  </main>`;
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(html`<${App} />`, root);
}
