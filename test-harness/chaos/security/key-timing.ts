/**
 * Check 2: the key comparison's timing. Wrong keys that share nothing with the real one, miss only its last
 * character, or are one character short or long, alternated in a seeded order over one keep-alive connection and
 * compared round by round (sign test, order-statistics interval); and what api-keys.ts does, read from its source.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'undici';
import type { SecurityResult, TimingGroup } from './types.ts';
import { REQUEST_MS, ROOT, type World } from './world.ts';

/** Two-sided p = 10⁻⁴ of the normal distribution: the sign test's threshold and the interval's width. */
export const Z_CRIT = 3.89;

/** A small seeded generator (mulberry32): the order of the groups in each round, reproducible. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const quantile = (sorted: Float64Array, q: number): number => sorted[Math.round(q * (sorted.length - 1))] ?? NaN;

/** What api-keys.ts does, read from its source: digests of equal length compared with timingSafeEqual, no early exit. */
async function construction(): Promise<SecurityResult['timing']['construction']> {
  const text = await readFile(join(ROOT, 'bin/orchestratord/src/http/auth/api-keys.ts'), 'utf8');
  const findKey = /export function findKey[\s\S]*?\n}/.exec(text)?.[0] ?? '';
  const checks: [string, boolean][] = [
    ["keys are hashed to digests of one length first (createHash('sha256'))", /createHash\('sha256'\)/.test(text)],
    ['findKey compares digests with crypto.timingSafeEqual', /timingSafeEqual\(/.test(findKey)],
    [
      'findKey compares against every entry (no return or break inside its loop)',
      !/for \([^)]*\)[^;]*\b(return|break)\b/.test(findKey),
    ],
  ];
  return {
    constantTime: findKey !== '' && checks.every(([, held]) => held),
    checks: checks.map(([what, held]) => `${held ? 'yes' : 'NO'}: ${what}`),
  };
}

export async function measureKeyTiming(w: World, rounds: number, budgetMs: number): Promise<SecurityResult['timing']> {
  const key = w.clientKey;
  const foreign = Array.from(key, (_, i) => 'QWXYZ'[i % 5]).join(''); // the key holds no capital letter
  const groups = [
    { name: 'shares no character', key: foreign },
    { name: 'all but the last character', key: `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}` },
    { name: 'one character short', key: key.slice(0, -1) },
    { name: 'one character long', key: `${key}0` },
  ] as const;
  const route = '/v2/meta/version';
  const client = new Client(w.url, { connect: { ca: w.caPem }, pipelining: 1, headersTimeout: REQUEST_MS });
  let connections = 0;
  client.on('connect', () => (connections += 1));
  let unexpected = 0;
  const once = async (presented: string): Promise<number> => {
    const start = process.hrtime.bigint();
    try {
      const answer = await client.request({
        method: 'GET',
        path: route,
        headers: { authorization: `Bearer ${presented}` },
      });
      await answer.body.dump();
      if (answer.statusCode === 401) return Number(process.hrtime.bigint() - start) / 1e3;
    } catch {
      // counted below
    }
    unexpected += 1;
    return NaN;
  };
  const started = Date.now();
  const random = seeded(16);
  const warmupRounds = Math.max(100, Math.round(rounds / 20));
  const samples = groups.map(() => new Float64Array(rounds).fill(NaN));
  let done = 0;
  try {
    for (let r = -warmupRounds; r < rounds && Date.now() - started < budgetMs; r += 1) {
      const order = [0, 1, 2, 3];
      for (let i = order.length - 1; i > 0; i -= 1) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      for (const g of order) {
        const us = await once(groups[g]?.key ?? '');
        if (r >= 0) (samples[g] as Float64Array)[r] = us;
      }
      if (r >= 0) done = r + 1;
    }
  } finally {
    await client.close();
  }
  const sortedOf = (s: Float64Array): Float64Array => s.slice(0, done).filter(Number.isFinite).sort();
  const sorted = samples.map(sortedOf);
  const stats = groups.map((g, i) => {
    const s = sorted[i] as Float64Array;
    return {
      name: g.name,
      length: g.key.length,
      samples: s.length,
      medianUs: quantile(s, 0.5),
      q1Us: quantile(s, 0.25),
      q3Us: quantile(s, 0.75),
    };
  });
  const ref = stats[0] as TimingGroup;
  const comparisons = stats.slice(1).map((group, j) => {
    const a = samples[j + 1] as Float64Array;
    const b = samples[0] as Float64Array;
    const diffs = new Float64Array(done);
    let n = 0;
    for (let r = 0; r < done; r += 1) {
      const d = (a[r] ?? NaN) - (b[r] ?? NaN);
      if (Number.isFinite(d)) diffs[n++] = d;
    }
    const d = diffs.slice(0, n).sort();
    const slower = d.filter((x) => x > 0).length;
    const faster = d.filter((x) => x < 0).length;
    const k = Math.max(0, Math.floor((n - Z_CRIT * Math.sqrt(n)) / 2));
    const ciLowUs = d[k] ?? NaN;
    const ciHighUs = d[n - 1 - k] ?? NaN;
    return {
      group: group.name,
      against: ref.name,
      pairs: n,
      medianDiffUs: group.medianUs - ref.medianUs,
      medianRatio: group.medianUs / ref.medianUs,
      diffOverIqr: (group.medianUs - ref.medianUs) / (ref.q3Us - ref.q1Us),
      pairedMedianUs: quantile(d, 0.5),
      ciLowUs,
      ciHighUs,
      slowerShare: n === 0 ? NaN : slower / n,
      z: slower + faster === 0 ? 0 : (slower - faster) / Math.sqrt(slower + faster),
      withinNoise: ciLowUs <= 0 && ciHighUs >= 0,
    };
  });
  return {
    route: `GET ${route}`,
    rounds: done,
    warmupRounds,
    connections,
    unexpected,
    groups: stats,
    comparisons,
    construction: await construction(),
    wallMs: Date.now() - started,
  };
}
