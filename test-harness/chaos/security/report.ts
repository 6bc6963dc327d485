/** The security section in words: securityViolations (each broken invariant) and renderSecurity (RESULTS.md). */
import { Z_CRIT } from './key-timing.ts';
import type { SecurityResult } from './types.ts';

/** Each invariant this section's result breaks, in words; empty when all held. */
export function securityViolations(r: SecurityResult): string[] {
  const out: string[] = [];
  for (const t of r.routes.tallies) {
    for (const n of t.notRefused) out.push(`security: ${t.route} without valid credentials (${n}) was not refused`);
    if (t.withCredentials === '401')
      out.push(`security: ${t.route} answered 401 to valid credentials, so its refusals prove nothing`);
  }
  for (const route of r.routes.unprobed) out.push(`security: ${route} is declared but no probe reached it`);
  const timing = r.timing;
  if (!timing.construction.constantTime) out.push('security: api-keys.ts no longer compares keys in constant time');
  if (timing.unexpected > 0)
    out.push(`security: ${timing.unexpected} wrong keys in the timing run were not answered 401`);
  for (const c of timing.comparisons)
    if (!c.withinNoise)
      out.push(
        `security: the key comparison's time depends on the key: a wrong key "${c.group}" took ` +
          `${c.pairedMedianUs.toFixed(2)} µs more per round than one that "${c.against}" ` +
          `(99.99% interval ${c.ciLowUs.toFixed(2)} … ${c.ciHighUs.toFixed(2)} µs, z ${c.z.toFixed(1)})`,
      );
  for (const p of r.logs.patterns)
    if (p.hits > 0) out.push(`security: ${p.hits} × ${p.pattern} in the output (${p.where})`);
  if (r.logs.streamedWhole !== r.logs.streamed)
    out.push(`security: only ${r.logs.streamedWhole} of ${r.logs.streamed} streams with valid credentials ended whole`);
  for (const p of r.mtls.probes)
    if (p.outcome === 'answered') out.push(`security: pool-managerd answered HTTP to ${p.client} (${p.detail})`);
  if (r.mtls.control.outcome !== 'answered')
    out.push(`security: pool-managerd did not answer its cluster client certificate (${r.mtls.control.detail})`);
  return out;
}

const n = (value: number): string => value.toLocaleString('en-US');
const us = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '—');
const cell = (text: string): string => text.replaceAll('|', '\\|');

/** The `## Security` section of RESULTS.md. */
export function renderSecurity(r: SecurityResult): string[] {
  const { routes, timing, logs, mtls } = r;
  const sent = routes.tallies.reduce((s, t) => s + t.sent, 0);
  return [
    '## Security',
    '',
    'A CLOUD cluster started for this section: orchestratord with two API keys (a client, an admin), OIDC against ' +
      "the harness's issuer and HTTPS for clients; pool-managerd with mutual TLS against a private CA and a demo " +
      `pool on the real engine; both at LOG_LEVEL=trace. Wall time ${(r.wallMs / 1000).toFixed(0)} s.`,
    '',
    '### Requests without valid credentials',
    '',
    `${n(routes.tallies.length)} routes (every one declared in \`bin/orchestratord/src/http/routes/*.ts\`, plus an ` +
      `unknown path) × ${routes.variants.length} ways of asking: ${routes.variants.join('; ')}. ` +
      `${n(sent)} requests, ${n(routes.notRefused)} answered other than 401/403. The last column is the answer to ` +
      'valid credentials with an empty body (the client key; for the readiness callback, the cluster client ' +
      'certificate, which is its only credential): not 401, so the refusals are the authentication.',
    '',
    '| route | refused | not refused | with valid credentials |',
    '|---|---|---|---|',
    ...routes.tallies.map(
      (t) =>
        `| ${t.route} | ${t.refused} / ${t.sent} | ${t.notRefused.length === 0 ? '0' : cell(t.notRefused.join('; '))} | ${t.withCredentials} |`,
    ),
    '',
    `Open by design (SEC-4007: every route but these needs credentials), answered without any: ` +
      `${routes.open.map((o) => `${o.route} ${o.status}`).join(', ')}. Routes in the source that no probe reached: ` +
      `${routes.unprobed.length === 0 ? 'none' : routes.unprobed.join(', ')}.`,
    '',
    '### Timing of the key comparison',
    '',
    `By construction (\`bin/orchestratord/src/http/auth/api-keys.ts\`): ${timing.construction.constantTime ? 'constant time' : '**not constant time**'} — ` +
      `${timing.construction.checks.join('; ')}.`,
    '',
    `Measured: ${n(timing.rounds)} rounds (after ${n(timing.warmupRounds)} warm-up rounds) of ${timing.route} with ` +
      `\`Authorization: Bearer <wrong key>\`, one request of each group per round in a seeded random order, one ` +
      `at a time over ${timing.connections === 1 ? 'one keep-alive HTTPS connection' : `${timing.connections} HTTPS connections`}; ` +
      'client-side latency (send to last byte). The rounds pair the groups, so drift cancels: each group is compared ' +
      'with "shares no character" by the per-round differences, with the sign test (distribution-free) and the ' +
      "median difference's 99.99% confidence interval from order statistics. Within the noise means that interval " +
      `holds 0 (the sign test finds no difference at p < 10⁻⁴, |z| < ${Z_CRIT}). Answers other than 401: ` +
      `${n(timing.unexpected)}. Wall time ${(timing.wallMs / 1000).toFixed(1)} s.`,
    '',
    '| wrong key | length | requests | median µs | interquartile range µs |',
    '|---|---|---|---|---|',
    ...timing.groups.map(
      (g) => `| ${g.name} | ${g.length} | ${n(g.samples)} | ${us(g.medianUs)} | ${us(g.q1Us)} – ${us(g.q3Us)} |`,
    ),
    '',
    '| against "shares no character" | Δ medians µs (× IQR) | ratio | per-round Δ median µs [99.99% interval] | slower in | z | within the noise |',
    '|---|---|---|---|---|---|---|',
    ...timing.comparisons.map(
      (c) =>
        `| ${c.group} | ${c.medianDiffUs.toFixed(2)} (${c.diffOverIqr.toFixed(3)}) | ${c.medianRatio.toFixed(4)} | ${c.pairedMedianUs.toFixed(2)} ` +
        `[${c.ciLowUs.toFixed(2)}, ${c.ciHighUs.toFixed(2)}] | ${(c.slowerShare * 100).toFixed(1)}% | ${c.z.toFixed(2)} | ` +
        `${c.withinNoise ? 'yes' : '**no**'} |`,
    ),
    '',
    '### Secrets in the output',
    '',
    `After the above, ${logs.streamed} streams with valid credentials (native tasks with the key as Bearer and as ` +
      `X-API-Key and with an OIDC token, a streamed chat; ${logs.streamedWhole} ended whole), then both daemons ` +
      `stopped; their whole output and orchestratord's /metrics answer (${Object.entries(logs.scannedBytes)
        .map(([k, v]) => `${k} ${n(v)} bytes`)
        .join(', ')}) searched for:`,
    '',
    '| pattern | hits | where |',
    '|---|---|---|',
    ...logs.patterns.map((p) => `| ${p.pattern} | ${n(p.hits)} | ${p.where === '' ? '—' : p.where} |`),
    '',
    '### pool-managerd without a valid client certificate',
    '',
    "Each client connects to pool-managerd's HTTPS port (trusting its CA) and sends `GET /health`; it must be refused " +
      `before any HTTP answer: ${mtls.accepted} of ${mtls.probes.length} were answered. ` +
      `Control: orchestratord's client certificate — ${mtls.control.outcome} (${cell(mtls.control.detail)}).`,
    '',
    '| client | outcome | detail |',
    '|---|---|---|',
    ...mtls.probes.map(
      (p) => `| ${p.client} | ${p.outcome === 'answered' ? '**answered**' : p.outcome} | ${cell(p.detail)} |`,
    ),
    '',
  ];
}
