/**
 * A small Prometheus text reader for the CLOUD step files: series parsed from orchestratord's and the nodes'
 * /metrics, as a scraper asks. Registers no steps.
 */
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { NetCluster } from '../../../src/netns/index.ts';
import { ANSWER_MS } from './cloud-helpers.ts';

export interface Series {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
}

/** `name{a="x",b="y"}` (labels in any order) as a name and a label map. */
export function parseSeries(text: string): Series {
  const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?$/.exec(text.trim());
  assert.ok(match?.[1], `not a series: ${text}`);
  const labels = new Map<string, string>();
  for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
    labels.set(label[1] ?? '', label[2] ?? '');
  return { name: match[1], labels };
}

/** The value of exactly that series (the same name and label set) in a /metrics text; undefined when absent. */
export function valueOf(metrics: string, wanted: string): number | undefined {
  const target = parseSeries(wanted);
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    const series = parseSeries(line.slice(0, space));
    if (series.name !== target.name || series.labels.size !== target.labels.size) continue;
    if ([...target.labels].every(([k, v]) => series.labels.get(k) === v)) return Number(line.slice(space + 1));
  }
  return undefined;
}

/** GET /metrics of an orchestratord replica, without any credential (as a scraper asks). */
export async function scrape(url: string): Promise<string> {
  const answer = await request(`${url}/metrics`, { signal: AbortSignal.timeout(ANSWER_MS) });
  const text = await answer.body.text();
  assert.equal(answer.statusCode, 200, `GET ${url}/metrics without a key: ${text.slice(0, 200)}`);
  return text;
}

/** One series summed over every replica (a counter absent from a replica counts 0 there). */
export async function summedOverReplicas(cluster: NetCluster, series: string): Promise<number> {
  const texts = await Promise.all(cluster.orchestrators.map((o) => scrape(o.url)));
  return texts.reduce((sum, text) => sum + (valueOf(text, series) ?? 0), 0);
}

/** Sum of every sample of `name` whose labels include `labels`, in one /metrics text. */
export function sumMatching(metrics: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    const series = parseSeries(line.slice(0, space));
    if (series.name === name && Object.entries(labels).every(([k, v]) => series.labels.get(k) === v))
      sum += Number(line.slice(space + 1));
  }
  return sum;
}

export async function replicasSum(cluster: NetCluster, name: string, labels: Record<string, string>): Promise<number> {
  const texts = await Promise.all(cluster.orchestrators.map((o) => scrape(o.url)));
  return texts.reduce((sum, text) => sum + sumMatching(text, name, labels), 0);
}
