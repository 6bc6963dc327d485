/** Streamed chat completions straight to the engine against the same through the stack, the relay and proxies. */
import { engineHandoff } from '../src/handoff-of.ts';
import { cpuMs } from '../src/proc-usage.ts';
import { compare, type Comparison } from './alternate.ts';
import type { ModelCluster } from './model-cluster.ts';
import type { Target } from './stream-client.ts';

export interface StreamPlan {
  readonly concurrency: readonly number[];
  readonly rounds: number;
  readonly maxTokens: number;
}

export const chatBody = (maxTokens: number, stream = true): Record<string, unknown> => ({
  // The pool id names the model in orchestratord whatever the pool serves (the demo, or the larger file).
  model: 'bench',
  messages: [{ role: 'user', content: 'Tell me a long story about a lighthouse keeper.' }],
  max_tokens: maxTokens,
  ignore_eos: true,
  stream,
});

export interface StackTargets {
  readonly direct: Target;
  readonly stack: Target;
  readonly relay: Target;
  readonly engineUrl: string;
  /** The daemons, whose CPU per token the stream rows record (the engine works for both sides: not comparable). */
  readonly pids: Readonly<Record<'orchestratord' | 'pool-managerd', number>>;
}

export async function stackTargets(cluster: ModelCluster, poolId: string): Promise<StackTargets> {
  const handoff = await engineHandoff(cluster.node.proc.output(), `${poolId}-r0.json`);
  return {
    engineUrl: handoff.url,
    pids: {
      orchestratord: cluster.orchestrator.proc.child.pid ?? 0,
      'pool-managerd': cluster.node.proc.child.pid ?? 0,
    },
    direct: { name: 'llama-server directly', url: `${handoff.url}/v1/chat/completions` },
    stack: { name: 'orchestratord + pool-managerd', url: `${cluster.url}/v1/chat/completions` },
    relay: {
      name: 'pool-managerd dispatch',
      url: `${cluster.node.url}/v2/pools/${poolId}/dispatch`,
      wrap: (body) => ({ endpoint: '/v1/chat/completions', body }),
    },
  };
}

/**
 * Baseline against candidate at each concurrency of the plan, one after the other. `cpuOf` names processes (the
 * daemons) whose CPU time per candidate token is recorded with each row.
 */
export async function compareAt(
  baseline: Target,
  candidate: Target,
  plan: StreamPlan,
  log: (line: string) => void,
  cpuOf: Readonly<Record<string, number>> = {},
): Promise<Comparison[]> {
  const out: Comparison[] = [];
  for (const concurrency of plan.concurrency) {
    const before = await Promise.all(Object.values(cpuOf).map(cpuMs));
    const result = await compare(baseline, candidate, {
      concurrency,
      rounds: plan.rounds,
      body: chatBody(plan.maxTokens),
    });
    const after = await Promise.all(Object.values(cpuOf).map(cpuMs));
    // The candidate's tokens: every round (and the warm-up) streams `concurrency` requests of maxTokens each.
    const candidateTokens = (plan.rounds + 1) * concurrency * result.tokensPerRequest.candidate;
    const cpuPerTokenUs = Object.fromEntries(
      Object.keys(cpuOf).map((name, i) => [name, (((after[i] ?? 0) - (before[i] ?? 0)) * 1000) / candidateTokens]),
    );
    const cpu = Object.entries(cpuPerTokenUs)
      .map(([name, us]) => `${name} ${us.toFixed(0)} µs`)
      .join(', ');
    log(
      `  ${candidate.name} ÷ ${baseline.name} at ${concurrency}: ${result.ratio.median.toFixed(3)} ` +
        `(${result.candidate.median.toFixed(0)} vs ${result.baseline.median.toFixed(0)} tok/s; ` +
        `first token +${result.addedFirstTokenP50.toFixed(1)} / p99 +${result.addedFirstTokenP99.toFixed(1)} ms` +
        `${cpu === '' ? '' : `; CPU per token: ${cpu}`})`,
    );
    out.push(cpu === '' ? result : { ...result, cpuPerTokenUs });
  }
  return out;
}
