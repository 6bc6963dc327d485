/** What one run of the suite measured, as written to results.json, and its figures as a flat record of numbers. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { AdmissionResult } from './admission.ts';
import type { Comparison } from './alternate.ts';
import type { FloorResult } from './floor.ts';
import type { Summary } from './stats.ts';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly ramGb: number;
  readonly node: string;
  readonly commit: string;
}

export interface StreamGroup {
  readonly key: string;
  readonly title: string;
  readonly baseline: string;
  readonly candidate: string;
  readonly streamed: boolean;
  readonly maxTokens: number;
  readonly rows: readonly Comparison[];
}

export interface Results {
  readonly machine: Machine;
  readonly command: string;
  readonly quick: boolean;
  readonly date: string;
  readonly rounds: number;
  readonly streams: readonly StreamGroup[];
  readonly admission: AdmissionResult | null;
  readonly floor: FloorResult | null;
  readonly startup: { readonly npmStartMs: Summary | null; readonly orchestratordMs: Summary | null };
  /** What did not run, and why, in words. */
  readonly notes: readonly string[];
}

export function machine(root: string): Machine {
  const cpuLine = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('model name'));
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const dirty = git('status', '--porcelain', '--untracked-files=no') === '' ? '' : ' (with uncommitted changes)';
  return {
    cpu: cpuLine?.split(':')[1]?.trim() ?? 'unknown',
    cores: cpus().length,
    ramGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    commit: `${git('rev-parse', '--short', 'HEAD') || 'unknown'}${dirty}`,
  };
}

/** Every figure of the run by a stable key; the quick test checks that each is a finite number. */
export function figures(results: Results): Record<string, number> {
  const out: Record<string, number> = {};
  for (const group of results.streams) {
    for (const row of group.rows) {
      const at = `${group.key}.${row.concurrency}`;
      out[`${at}.baseline_tps`] = row.baseline.median;
      out[`${at}.candidate_tps`] = row.candidate.median;
      out[`${at}.ratio`] = row.ratio.median;
      if (group.streamed) {
        out[`${at}.added_first_token_p50_ms`] = row.addedFirstTokenP50;
        out[`${at}.added_first_token_p99_ms`] = row.addedFirstTokenP99;
      }
      for (const [name, us] of Object.entries(row.cpuPerTokenUs ?? {})) out[`${at}.cpu_us_per_token.${name}`] = us;
    }
  }
  const a = results.admission;
  if (a !== null) {
    out['admission.tasks_per_second'] = a.tasksPerSecond;
    out['admission.post_p50_ms'] = a.postP50Ms;
    out['admission.post_p99_ms'] = a.postP99Ms;
    out['admission.idle_rss_mb'] = a.idleRssMb;
    out['admission.full_rss_mb'] = a.fullRssMb;
    out['admission.cpu_us_per_task'] = a.cpuPerTaskUs;
    out['admission.loadgen_cpu_us_per_task'] = a.loadgenCpuPerTaskUs;
    out['admission.floor.tasks_per_second'] = a.floor.tasksPerSecond;
    out['admission.floor.post_p99_ms'] = a.floor.postP99Ms;
    out['admission.floor.cpu_us_per_task'] = a.floor.cpuPerTaskUs;
  }
  if (results.floor) {
    out['floor.pipe_us_per_event'] = results.floor.pipeUs;
    out['floor.relay_us_per_event'] = results.floor.relayUs;
  }
  if (results.startup.npmStartMs) out['startup.npm_start_ms'] = results.startup.npmStartMs.median;
  if (results.startup.orchestratordMs) out['startup.orchestratord_ms'] = results.startup.orchestratordMs.median;
  return out;
}
