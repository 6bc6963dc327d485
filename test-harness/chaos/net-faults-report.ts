/** The distributed fault run's part of RESULTS.md, and the invariants it must keep. */
import type { NetFaultsResult } from './net-faults.ts';

const n = (value: number): string => value.toLocaleString('en-US');
const ms = (value: number | null): string => (value === null ? '—' : `${n(value)} ms`);

/** How fast "at once" is: a client whose stream or submission the restart cut must know within this. */
export const CLEAN_ERROR_MS = 2_000;

export function netFaultViolations(f: NetFaultsResult): string[] {
  const out: string[] = [];
  const whole = f.admitted - f.cutByCrash;
  if (f.admitted !== f.submitted) out.push(`net faults: ${f.submitted - f.admitted} tasks were never admitted`);
  if (f.exactlyOneTerminal !== whole)
    out.push(`net faults: ${whole - f.exactlyOneTerminal} admitted tasks without exactly one terminal event`);
  if (f.afterTerminal !== 0) out.push(`net faults: ${f.afterTerminal} events after a terminal event`);
  for (const [pool, held] of Object.entries(f.maxInFlight))
    if (held > f.slotsPerPool)
      out.push(`net faults: the engine of ${pool} held ${held} requests for ${f.slotsPerPool} slots`);
  for (const [pool, held] of Object.entries(f.heldAtEnd))
    if (held !== 0)
      out.push(`net faults: the engine of ${pool} still held ${held ?? 'an unknown number of'} requests at the end`);
  if (f.faultsNotInjected > 0)
    out.push(`net faults: the tasks ran out before ${f.faultsNotInjected} faults were injected`);
  for (const fault of f.faults) {
    if (fault.downMs !== null && fault.healedMs === null) out.push(`net faults: ${fault.fault} never healed`);
    if (fault.target === 'orchestratord' && fault.downMs === null)
      out.push(`net faults: ${fault.fault}: orchestratord never stopped answering (was the fault injected?)`);
  }
  if (f.faults.some((x) => x.fault.startsWith('pool-managerd kill')))
    if (f.adoption === null) out.push('net faults: the restarted pool-managerd never had its pool ready again');
    else if (f.adoption.before.join() !== f.adoption.after.join() || f.adoption.after.length === 0)
      out.push(
        `net faults: the restarted pool-managerd of ${f.adoption.node} did not adopt its engine (pids ${f.adoption.before.join()} → ${f.adoption.after.join()})`,
      );
  if (f.slowestCutMs !== null && f.slowestCutMs > CLEAN_ERROR_MS)
    out.push(`net faults: a stream cut by the orchestratord crash took ${f.slowestCutMs} ms to fail at its client`);
  if (f.slowestRefusalMs !== null && f.slowestRefusalMs > CLEAN_ERROR_MS)
    out.push(`net faults: a submission while orchestratord was down took ${f.slowestRefusalMs} ms to be refused`);
  return out;
}

export function renderNetFaults(f: NetFaultsResult | null, skipped: string | null): string[] {
  const lines = ['## Faults across nodes (network namespaces, CLOUD profile)', ''];
  if (f === null) return [...lines, skipped === null ? 'Not run.' : `Not run: ${skipped}.`, ''];
  return [
    ...lines,
    `${n(f.submitted)} native tasks of 16 tokens (${n(f.tasks)} asked for, and on until every fault had come and ` +
      `healed), ${f.width} at a time, from clients that send a submission again 250 ms ` +
      `after a refused connection and after its Retry-After when answered 503 or 429. ${f.nodes} nodes, each a ` +
      'network namespace with its own IP on a test bridge, run pool-managerd ' +
      `(mutual TLS) with one demo pool of ${f.slotsPerPool} slots; one orchestratord requires an API key. Engine ` +
      'loads are sampled every 100 ms inside each namespace from the engine’s own /metrics. Node c has the Kubernetes ' +
      'pod’s shape (engine-provisioner beside a watch-only pool-managerd), a and b the compose worker’s (pool-managerd ' +
      'provisions its engine). Each fault comes once its share of the tasks has started and the one before it has ' +
      'healed: ' +
      `${f.faults.map((x) => `${x.fault} on ${x.target} at task ${x.atTask}`).join('; ')}.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| tasks submitted / admitted | ${n(f.submitted)} / ${n(f.admitted)} |`,
    `| admitted tasks with exactly one terminal event | ${n(f.exactlyOneTerminal)} of ${n(f.admitted - f.cutByCrash)} (the ${n(f.cutByCrash)} cut by the crash aside) |`,
    `| streams cut by the orchestratord crash / slowest to fail at the client | ${n(f.cutByCrash)} / ${ms(f.slowestCutMs)} |`,
    `| answers sent again after their Retry-After (503: no pool could serve then; 429: queue full) | ${
      Object.entries(f.retriedAfter)
        .map(([k, v]) => `${k} × ${n(v)}`)
        .join(', ') || 'none'
    } |`,
    `| submissions refused while orchestratord was down / slowest refusal | ${n(f.refusedWhileDown)} / ${ms(f.slowestRefusalMs)} |`,
    `| events after a terminal event | ${n(f.afterTerminal)} |`,
    `| outcomes | ${Object.entries(f.outcomes)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ')} |`,
    `| attempts sent back to the queue before their first token | ${n(f.requeuedBeforeFirstToken)} |`,
    `| most requests one engine held (processing + deferred) | ${Object.entries(f.maxInFlight)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} (slots: ${f.slotsPerPool}) |`,
    `| requests the engines held after the run | ${Object.entries(f.heldAtEnd)
      .map(([k, v]) => `${k} ${v ?? '?'}`)
      .join(', ')} |`,
    `| engine of the killed pool-managerd, before / after its restart | ${
      f.adoption === null
        ? '—'
        : `pid ${f.adoption.before.join(', ')} / pid ${f.adoption.after.join(', ')} (${f.adoption.before.join() === f.adoption.after.join() ? 'adopted' : '**not adopted**'})`
    } |`,
    ...f.faults.map(
      (x) =>
        `| ${x.fault} (${x.target}): showed after / healed after | ${x.downMs === null ? 'never showed' : ms(x.downMs)} / ${ms(x.healedMs)} |`,
    ),
    `| wall time | ${(f.wallMs / 1000).toFixed(1)} s |`,
    '',
    'A pool’s fault shows when orchestratord stops listing it as ready and heals when it lists it again; ' +
      'orchestratord’s own restart shows when it stops answering and heals when it answers with every pool ready. ' +
      'A crashed orchestratord cannot send a terminal event (there is no task journal yet): its clients’ streams ' +
      'break, and the figure is how soon they know.',
    '',
    ...(f.followErrors.length > 0
      ? ['Streams that could not be followed:', '', ...f.followErrors.map((e) => `- ${e}`), '']
      : []),
  ];
}
