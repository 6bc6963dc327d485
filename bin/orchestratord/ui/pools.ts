import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import type { DrainResponse, PoolStatus, ReloadResponse } from '@llama-orch/contracts';
import { api, errorMessage } from './api.ts';
import { bytes, ms, percent } from './format.ts';

const html = htm.bind(h);

/** How long running tasks may go on when the page drains a pool, before they are aborted. */
const DRAIN_DEADLINE_MS = 30_000;

type Action = 'drain' | 'reload';

function Bar(props: { used: number; total: number; label: string; testid: string }) {
  return html`<div class="bar" title=${props.label} data-testid=${props.testid}>
    <div class="bar-fill" style=${`width:${percent(props.used, props.total).toFixed(1)}%`}></div>
    <span class="bar-text">${props.label}</span>
  </div>`;
}

/** Ask the operator, then send a drain or a reload; the answer (or why it failed) is shown under the pool. */
async function act(pool: PoolStatus, action: Action, say: (text: string) => void): Promise<void> {
  let body: string;
  if (action === 'drain') {
    const sure = window.confirm(
      `Drain pool ${pool.pool_id}? It takes no new tasks; running ones get ${DRAIN_DEADLINE_MS / 1000} s to finish, then its engines stop.`,
    );
    if (!sure) return;
    body = JSON.stringify({ deadline_ms: DRAIN_DEADLINE_MS });
  } else {
    const model = window.prompt(`Reload pool ${pool.pool_id} with which model (a model reference)?`, pool.model);
    if (model === null || model.trim() === '') return;
    body = JSON.stringify({ model_ref: model.trim() });
  }
  say(`${action} requested…`);
  try {
    const response = await api(`/v2/pools/${encodeURIComponent(pool.pool_id)}/${action}`, { method: 'POST', body });
    if (!response.ok) {
      say(`${action} failed: ${await errorMessage(response)}`);
      return;
    }
    if (action === 'drain') {
      const drained = (await response.json()) as DrainResponse;
      say(`drained: ${drained.state}, ${drained.aborted} aborted, in ${ms(drained.duration_ms)}`);
    } else {
      const reloaded = (await response.json()) as ReloadResponse;
      say(
        reloaded.ok
          ? `reloaded with ${reloaded.model}`
          : `reload rolled back: ${reloaded.message ?? 'the old model serves'}`,
      );
    }
  } catch (error) {
    say(`${action} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function PoolCard(props: { pool: PoolStatus; admin: boolean }) {
  const { pool, admin } = props;
  const [note, setNote] = useState<string | null>(null);
  const busy = pool.slots_total - pool.slots_free;
  const vramUsed =
    pool.vram_total_bytes !== null && pool.vram_free_bytes !== null
      ? pool.vram_total_bytes - pool.vram_free_bytes
      : null;
  const device = pool.device === 'cuda' ? `CUDA, GPU ${(pool.gpus ?? []).join(', ') || '?'}` : 'CPU';
  const loading = pool.loading ?? null;
  return html`<article class=${`pool state-${pool.state}`} data-pool=${pool.pool_id} data-state=${pool.state}>
    <header>
      <h3>${pool.pool_id}</h3>
      <span class="badge" data-testid="pool-state">${pool.state}</span>
    </header>
    <dl>
      <dt>model</dt>
      <dd title=${pool.model_digest ?? ''}>${pool.model}</dd>
      <dt>device</dt>
      <dd>${device}</dd>
      <dt>engine</dt>
      <dd>llama.cpp ${pool.engine_version ?? '?'}</dd>
      ${
        pool.load === 'on-demand'
          ? html`<dt>load</dt>
              <dd>on demand${pool.load_ms != null ? `, last ${ms(pool.load_ms)}` : ''}</dd>`
          : null
      }
    </dl>
    <${Bar} used=${busy} total=${pool.slots_total} label=${`slots ${busy} / ${pool.slots_total} busy`} testid="slots" />
    ${
      vramUsed !== null && pool.vram_total_bytes !== null
        ? html`<${Bar}
            used=${vramUsed}
            total=${pool.vram_total_bytes}
            label=${`VRAM ${bytes(vramUsed)} / ${bytes(pool.vram_total_bytes)}`}
            testid="vram"
          />`
        : null
    }
    ${loading !== null ? html`<p class="loading">${loading.phase.replaceAll('_', ' ')}${loading.waiting_for !== null ? ` (for ${loading.waiting_for})` : ''} · ${ms(loading.elapsed_ms)}</p>` : null}
    ${pool.last_error !== null ? html`<p class="error" data-testid="last-error">${pool.last_error}</p>` : null}
    ${
      admin
        ? html`<div class="actions">
            <button
              data-action="drain"
              disabled=${pool.state !== 'ready'}
              onClick=${() => void act(pool, 'drain', setNote)}
            >
              Drain
            </button>
            <button data-action="reload" disabled=${pool.draining} onClick=${() => void act(pool, 'reload', setNote)}>
              Reload…
            </button>
          </div>`
        : null
    }
    ${note !== null ? html`<p class="note" data-testid="pool-note">${note}</p>` : null}
  </article>`;
}

/** Nodes, each with its pools. */
export function Nodes(props: { pools: readonly PoolStatus[]; admin: boolean }) {
  const byNode = new Map<string, PoolStatus[]>();
  for (const pool of props.pools) byNode.set(pool.node_id, [...(byNode.get(pool.node_id) ?? []), pool]);
  if (byNode.size === 0) return html`<p class="muted">No pool-managerd has reported a pool yet.</p>`;
  return html`${[...byNode].map(
    ([node, pools]) =>
      html`<section class="node" data-node=${node} key=${node}>
        <h2>node ${node}</h2>
        <div class="pools">
          ${pools.map((pool) => html`<${PoolCard} key=${pool.pool_id} pool=${pool} admin=${props.admin} />`)}
        </div>
      </section>`,
  )}`;
}
