import { h } from 'preact';
import htm from 'htm';
import type { Overview, OverviewTask } from '@llama-orch/contracts';
import { ms, rate } from './format.ts';

const html = htm.bind(h);

export function Queue(props: { queue: Overview['queue'] }) {
  const q = props.queue;
  const figure = (label: string, value: string, testid: string) =>
    html`<div class="figure" data-testid=${testid}>
      <span class="value">${value}</span><span class="label">${label}</span>
    </div>`;
  return html`<div class="figures">
    ${figure('queued', `${q.depth} / ${q.capacity}`, 'queue-depth')}
    ${figure('interactive', String(q.interactive), 'queue-interactive')}
    ${figure('batch', String(q.batch), 'queue-batch')} ${figure('oldest wait', ms(q.oldest_wait_ms), 'queue-oldest')}
    ${figure('next start in', ms(q.next_start_ms), 'queue-next')}
    ${figure('429s, last minute', String(q.rejected_last_minute), 'queue-429')}
  </div>`;
}

function Row(props: { task: OverviewTask; finished: boolean }) {
  const t = props.task;
  return html`<tr data-task=${t.task_id} data-state=${t.state}>
    <td class="id" title=${t.task_id}>${t.task_id}</td>
    <td>
      <span class=${`outcome outcome-${t.state}`}>${props.finished ? (t.outcome ?? t.state) : t.state}</span
      >${t.position !== undefined ? ` #${t.position + 1}` : ''}
    </td>
    <td>${t.pool_id ?? '–'}</td>
    <td>${t.model}</td>
    <td class="num" data-testid="tokens">${t.tokens_out}</td>
    <td class="num">${rate(t.tokens_per_s)}</td>
    <td class="num">${ms(t.first_token_ms)}</td>
    <td class="num">${ms(t.age_ms)}</td>
  </tr>`;
}

function Table(props: { tasks: readonly OverviewTask[]; finished: boolean; testid: string; empty: string }) {
  return html`<table data-testid=${props.testid}>
    <thead>
      <tr>
        <th>task</th>
        <th>${props.finished ? 'outcome' : 'state'}</th>
        <th>pool</th>
        <th>model</th>
        <th class="num">tokens</th>
        <th class="num">tok/s</th>
        <th class="num">first token</th>
        <th class="num">${props.finished ? 'took' : 'age'}</th>
      </tr>
    </thead>
    <tbody>
      ${
        props.tasks.length === 0
          ? html`<tr>
              <td colspan="8" class="muted">${props.empty}</td>
            </tr>`
          : props.tasks.map((task) => html`<${Row} key=${task.task_id} task=${task} finished=${props.finished} />`)
      }
    </tbody>
  </table>`;
}

export function Tasks(props: { tasks: Overview['tasks'] }) {
  const { live, live_total, finished } = props.tasks;
  return html`<div class="tasks">
    <h3>
      Live
      <span class="muted"
        >${live_total > live.length ? `(${live.length} of ${live_total} shown)` : `(${live_total})`}</span
      >
    </h3>
    <${Table} tasks=${live} finished=${false} testid="live-tasks" empty="Nothing is running or waiting." />
    <h3>Finished <span class="muted">(latest ${finished.length})</span></h3>
    <${Table} tasks=${finished} finished=${true} testid="finished-tasks" empty="No task has finished yet." />
  </div>`;
}
