/**
 * KV-warm placement (issue 19) on real engines: a multi-turn workload, 8 sessions at once, 6 turns each, every turn
 * appending to a long history (a system prompt of about 1,800 tokens), on a pool of 4 slots (2 llama-server
 * replicas × 2 slots by default). Time to first token of turns 2–6 (POST /v2/tasks to the first token event,
 * queueing included: what the client waits) in three modes, rotated: KV-warm slots on; off
 * (POOL_MANAGERD_KV_AFFINITY=false: least loaded replica, llama-server picks the slot and restores prompts from its
 * RAM cache, as before this issue); and no reuse at all (kv_hint cold). Also what share of the prompt tokens sent the
 * engines really computed (their llamacpp:prompt_tokens_total).
 *
 *   node test-harness/bench/kv-warm.ts [--rounds N] [--model large|demo] [--replicas 1|2|4] [--out DIR]
 *   writes KV-WARM.md and kv-warm.json into DIR (default: here)
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { enginesOf, promptTokensComputed } from '../src/engine-slots.ts';
import { jsonRequest } from '../src/http-json.ts';
import { followEvents } from '../src/sse.ts';
import { writeFormatted } from '../src/write-formatted.ts';
import { ensureLargeModel } from './large-model.ts';
import { startModelCluster } from './model-cluster.ts';
import { machine } from './results.ts';
import { fmt, percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '8' },
    turns: { type: 'string', default: '6' },
    replicas: { type: 'string', default: '2' },
    model: { type: 'string', default: 'large' },
    modes: { type: 'string', default: 'on,off,cold' },
    out: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const SESSIONS = Number(values.sessions);
const TURNS = Number(values.turns);
/** The pool's 4 slots: this many llama-server replicas of 4 / REPLICAS slots each. */
const REPLICAS = Number(values.replicas);
const SLOTS = 4 / REPLICAS;
if (!Number.isInteger(SLOTS)) throw new Error('--replicas must divide 4');
const OUT = values.out ?? fileURLToPath(new URL('.', import.meta.url));
const CTX = 4096;
const ANSWER_TOKENS = 16;
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const ALL_MODES = ['on', 'off', 'cold'] as const;
type Mode = (typeof ALL_MODES)[number];
const MODES = ALL_MODES.filter((mode) => values.modes.split(',').includes(mode));
const MODE_NAMES: Record<Mode, string> = {
  on: 'KV-warm slots on',
  off: 'KV affinity off',
  cold: 'no reuse (kv_hint cold)',
};

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

/** A long system prompt, different per session (so no two share a prefix). */
const systemPrompt = (session: number): string =>
  Array.from(
    { length: 110 },
    (_, i) => `Session ${session} rule ${i}: keep the values ${i * 17 + session} and ${i * 29 + session} in mind.`,
  ).join(' ');

interface TurnSample {
  readonly session: number;
  readonly turn: number;
  readonly firstTokenMs: number;
  /** From `started` (the engine took it) to its first token: the prefill, without the queue. */
  readonly prefillMs: number;
  readonly tokensIn: number;
}

async function turn(
  url: string,
  session: string,
  messages: readonly Message[],
  cold: boolean,
): Promise<TurnSample & { text: string }> {
  const id = `kvb-${session}-${Math.random().toString(36).slice(2, 10)}`;
  const started = performance.now();
  const admitted = await jsonRequest(`${url}/v2/tasks`, {
    method: 'POST',
    body: {
      task_id: id,
      session_id: session,
      model_ref: 'chat',
      ...(cold ? { kv_hint: 'cold' } : {}),
      messages,
      max_tokens: ANSWER_TOKENS,
      ignore_eos: true,
      temperature: 0,
    },
  });
  if (admitted.status !== 202) throw new Error(`admission: ${admitted.status} ${JSON.stringify(admitted.body)}`);
  let firstTokenMs = Number.NaN;
  let startedMs = Number.NaN;
  const followed = await followEvents(`${url}/v2/tasks/${id}/events`, {
    timeoutMs: 300_000,
    onEvent: (event) => {
      if (event.event === 'started') startedMs = performance.now() - started;
      if (event.event === 'token' && Number.isNaN(firstTokenMs)) firstTokenMs = performance.now() - started;
    },
  });
  const end = followed.events.at(-1);
  if (end?.event !== 'end') throw new Error(`task ${id} ended with ${JSON.stringify(end)}`);
  const text = followed.events
    .filter((e) => e.event === 'token')
    .map((e) => (typeof e.data['t'] === 'string' ? e.data['t'] : ''))
    .join('');
  return {
    session: -1,
    turn: 0,
    firstTokenMs,
    prefillMs: firstTokenMs - startedMs,
    tokensIn: Number(end.data['tokens_in'] ?? 0),
    text,
  };
}

/** One run: every session's turns in order, the sessions at once. */
async function run(
  mode: Mode,
  round: number,
): Promise<{ samples: TurnSample[]; kv: Record<string, number>; computed: number }> {
  const model = values.model === 'demo' ? 'demo' : `file:${await ensureLargeModel(log)}`;
  const cluster = await startModelCluster(
    { id: 'chat', model, ctx: CTX, slots: SLOTS, replicas: REPLICAS },
    {},
    { POOL_MANAGERD_KV_AFFINITY: String(mode === 'on') },
  );
  try {
    const samples: TurnSample[] = [];
    await Promise.all(
      Array.from({ length: SESSIONS }, async (_, s) => {
        const session = `bench-${round}-${s}`;
        const messages: Message[] = [{ role: 'system', content: systemPrompt(s) }];
        for (let t = 1; t <= TURNS; t += 1) {
          messages.push({ role: 'user', content: `Question ${t} of session ${s}: what is the value of rule ${t}?` });
          const answer = await turn(cluster.url, session, messages, mode === 'cold');
          samples.push({
            session: s,
            turn: t,
            firstTokenMs: answer.firstTokenMs,
            prefillMs: answer.prefillMs,
            tokensIn: answer.tokensIn,
          });
          messages.push({ role: 'assistant', content: answer.text });
        }
      }),
    );
    // What the engines really computed of the prompts they were sent (the rest they reused from their caches).
    const engines = await enginesOf(cluster.node.proc.child.pid ?? 0);
    const computed = (await Promise.all(engines.map((e) => promptTokensComputed(e.url)))).reduce((a, b) => a + b, 0);
    const metrics = await (await fetch(`${cluster.node.url}/metrics`)).text();
    const kv: Record<string, number> = {};
    for (const match of metrics.matchAll(/^pool_kv_dispatches_total\{pool_id="chat",decision="(\w+)"\} (\d+)/gm))
      kv[match[1] ?? ''] = Number(match[2]);
    return { samples, kv, computed };
  } finally {
    await cluster.cleanup();
  }
}

/**
 * The fewest prompt tokens any placement could have the engines compute in a run: each session's first prompt
 * whole, then of each later turn only what is new since the turn before (its prompt less the previous prompt and
 * the answer tokens the engine decoded into the same cache), and at least one token (llama-server always
 * evaluates the last one).
 */
function leastComputed(samples: readonly TurnSample[]): number {
  let least = 0;
  for (let s = 0; s < SESSIONS; s += 1) {
    const turns = samples.filter((x) => x.session === s).sort((a, b) => a.turn - b.turn);
    turns.forEach((x, i) => {
      const before = turns[i - 1];
      least += before === undefined ? x.tokensIn : Math.max(1, x.tokensIn - before.tokensIn - ANSWER_TOKENS);
    });
  }
  return least;
}

interface Side {
  readonly later: number[];
  readonly laterPrefill: number[];
  readonly first: number[];
  readonly tokensIn: number[];
  readonly kv: Record<string, number>[];
  /** Per run: prompt tokens the engines computed, of those sent, and the fewest any placement could (leastComputed). */
  readonly computed: { computed: number; sent: number; least: number }[];
}

const emptySide = (): Side => ({ later: [], laterPrefill: [], first: [], tokensIn: [], kv: [], computed: [] });
const sides: Record<Mode, Side> = { on: emptySide(), off: emptySide(), cold: emptySide() };
const perRound: ({ round: number } & Record<Mode, number>)[] = [];
for (let round = 0; round < ROUNDS; round += 1) {
  const medians: Record<Mode, number> = { on: Number.NaN, off: Number.NaN, cold: Number.NaN };
  // Rotate which mode goes first, so that none always runs on a warmer machine.
  const order = MODES.map((_, i) => MODES[(i + round) % MODES.length] as Mode);
  for (const mode of order) {
    log(`round ${round + 1}/${ROUNDS}: ${MODE_NAMES[mode]}`);
    const { samples, kv, computed } = await run(mode, round);
    const side = sides[mode];
    const sent = samples.reduce((sum, sample) => sum + sample.tokensIn, 0);
    const least = leastComputed(samples);
    side.computed.push({ computed, sent, least });
    const later = samples.filter((x) => x.turn >= 2);
    side.later.push(...later.map((x) => x.firstTokenMs));
    side.laterPrefill.push(...later.map((x) => x.prefillMs));
    side.first.push(...samples.filter((x) => x.turn === 1).map((x) => x.firstTokenMs));
    side.tokensIn.push(...samples.map((x) => x.tokensIn));
    side.kv.push(kv);
    medians[mode] = percentile(
      later.map((x) => x.firstTokenMs),
      50,
    );
    log(
      `  turns 2-${TURNS}: first token p50 ${fmt(medians[mode])} ms; prompt tokens computed ${computed} of ${sent} ` +
        `(the fewest possible: ${least}); kv ${JSON.stringify(kv)}`,
    );
  }
  perRound.push({ round: round + 1, ...medians });
}

const per = (f: (side: Side) => number): Record<Mode, number> => ({
  on: f(sides.on),
  off: f(sides.off),
  cold: f(sides.cold),
});
const p50 = per((x) => percentile(x.later, 50));
const p90 = per((x) => percentile(x.later, 90));
const fromStarted = per((x) => percentile(x.laterPrefill, 50));
const turn1 = per((x) => percentile(x.first, 50));
const computedShare = per((x) => {
  const c = x.computed.reduce((sum, r) => sum + r.computed, 0);
  const sent = x.computed.reduce((sum, r) => sum + r.sent, 0);
  return sent === 0 ? Number.NaN : c / sent;
});
/** Prompt tokens computed over the fewest possible, summed over a mode's runs: 1 is a cache that missed nothing. */
const overLeast = per((x) => {
  const c = x.computed.reduce((sum, r) => sum + r.computed, 0);
  const least = x.computed.reduce((sum, r) => sum + r.least, 0);
  return least === 0 ? Number.NaN : c / least;
});
const command = `node test-harness/bench/kv-warm.ts --rounds ${ROUNDS} --sessions ${SESSIONS} --turns ${TURNS} --replicas ${REPLICAS} --model ${values.model}`;
const host = machine(fileURLToPath(new URL('../..', import.meta.url)));
const json = {
  date: new Date().toISOString(),
  machine: host,
  command,
  workload: {
    sessions: SESSIONS,
    turns: TURNS,
    answer_tokens: ANSWER_TOKENS,
    model: values.model,
    pool: `${REPLICAS} replicas × ${SLOTS} slots, ctx ${CTX}`,
    prompt_tokens: { min: Math.min(...sides.on.tokensIn), max: Math.max(...sides.on.tokensIn) },
  },
  first_token_ms_turns_2_p50: p50,
  first_token_ms_turns_2_p90: p90,
  started_to_first_token_ms_turns_2_p50: fromStarted,
  first_token_ms_turn_1_p50: turn1,
  prompt_tokens_computed_share: computedShare,
  prompt_tokens_computed_over_least: overLeast,
  speedup_p50: { vs_off: p50.off / p50.on, vs_cold: p50.cold / p50.on },
  rounds: perRound,
  kv_decisions: { on: sides.on.kv, off: sides.off.kv, cold: sides.cold.kv },
  prompt_tokens_computed: { on: sides.on.computed, off: sides.off.computed, cold: sides.cold.computed },
};
await writeFile(join(OUT, 'kv-warm.json'), `${JSON.stringify(json, null, 2)}\n`);
const row = (name: string, v: Record<Mode, number>, unit = ' ms', digits = 1): string =>
  `| ${name} | ${fmt(v.on, digits)}${unit} | ${fmt(v.off, digits)}${unit} | ${fmt(v.cold, digits)}${unit} |`;
const md = [
  '# KV-warm placement: multi-turn time to first token',
  '',
  `Measured ${json.date.slice(0, 10)} on ${host.cpu} (${host.cores} cores, commit ${host.commit}), with \`${command}\`.`,
  '',
  `${SESSIONS} sessions at once, ${TURNS} turns each; every turn sends the whole history (a system prompt of its own and`,
  `the turns so far: ${json.workload.prompt_tokens.min}–${json.workload.prompt_tokens.max} prompt tokens) and asks ${ANSWER_TOKENS} tokens, on one pool of the`,
  `${values.model === 'demo' ? 'demo model' : 'benchmark’s larger model (512 wide, 8 layers)'} with 4 slots (${REPLICAS} llama-server replicas × ${SLOTS}). Time to first token: POST`,
  '/v2/tasks to the first token event, queueing included. Three modes, rotated each round:',
  '',
  '- **on**: KV-warm slots (pool-managerd sends each turn to the slot holding its conversation);',
  '- **off**: `POOL_MANAGERD_KV_AFFINITY=false`, as before issue 19: least loaded replica, llama-server picks the slot',
  '  (by prompt similarity) and restores prompts from its own RAM prompt cache;',
  '- **no reuse**: `kv_hint: cold` on every turn: no session affinity and no prompt cache, every turn prefills its',
  '  whole history.',
  '',
  '| turns 2–6 | on | off | no reuse |',
  '|---|---|---|---|',
  row('first token, p50', p50),
  row('first token, p90', p90),
  row('`started` → first token, p50', fromStarted),
  row(
    'share of prompt tokens the engines computed',
    per((x) => (x === sides.on ? computedShare.on : x === sides.off ? computedShare.off : computedShare.cold) * 100),
    ' %',
  ),
  row('prompt tokens computed ÷ the fewest any placement could', overLeast, '×', 2),
  row('turn 1 (cold in every mode), first token p50', turn1),
  '',
  `off ÷ on at p50: **${fmt(p50.off / p50.on, 2)}×**; no reuse ÷ on: **${fmt(p50.cold / p50.on, 2)}×**.`,
  '',
  'Per round (p50 of turns 2–6, on / off / no reuse): ' +
    perRound.map((r) => `round ${r.round}: ${fmt(r.on)} / ${fmt(r.off)} / ${fmt(r.cold)} ms`).join('; ') +
    '.',
  '',
  `pool-managerd's decisions with KV-warm slots on (\`pool_kv_dispatches_total\`, per run): ${sides.on.kv.map((k) => JSON.stringify(k)).join(', ')}.`,
  '',
  'Target (issue 19): ≥ 2× better at p50 than with affinity off, on CPU here.',
  '',
  '**What is left to win.** The fewest prompt tokens a run could compute is each session’s first prompt whole, then',
  'only what each later turn adds (its prompt less the one before and the answer the engine decoded into the same',
  'cache). Prompt tokens computed ÷ that fewest, per run: ' +
    MODES.filter((mode) => mode !== 'cold')
      .map((mode) => `${mode} ${sides[mode].computed.map((r) => fmt(r.computed / r.least, 2)).join(', ')}`)
      .join('; ') +
    '.',
  `A placement that computed only the fewest would cut the prefill of affinity off by ${fmt((1 - 1 / overLeast.off) * 100, 0)} % over`,
  `these runs (and of KV-warm slots by ${fmt((1 - 1 / overLeast.on) * 100, 0)} %); each turn's decode of ${ANSWER_TOKENS} tokens is the same in every mode.`,
  '',
];
await writeFormatted(join(OUT, 'KV-WARM.md'), md.join('\n'));
log(`p50 turns 2-${TURNS}: on ${fmt(p50.on)} ms, off ${fmt(p50.off)} ms, no reuse ${fmt(p50.cold)} ms`);
