/** What a user might pick instead of the stack, in front of the same engine: nginx and @portkey-ai/gateway. */
import { compareAt, type StreamPlan } from './streams.ts';
import { compare } from './alternate.ts';
import { startNginx } from './nginx.ts';
import { startPortkey } from './portkey.ts';
import type { StreamGroup } from './results.ts';
import { chatBody } from './streams.ts';
import type { Target } from './stream-client.ts';

export async function runProxies(
  direct: Target,
  engineUrl: string,
  plan: StreamPlan,
  log: (line: string) => void,
): Promise<{ groups: StreamGroup[]; notes: string[] }> {
  const groups: StreamGroup[] = [];
  const notes: string[] = [];
  const nginx = await startNginx(engineUrl, log);
  if (typeof nginx === 'string') notes.push(`nginx: ${nginx}`);
  else {
    try {
      const target: Target = { name: 'nginx least_conn', url: `${nginx.url}/v1/chat/completions` };
      const rows = await compareAt(direct, target, plan, log);
      groups.push({
        key: 'nginx',
        title: 'nginx (least_conn, Debian) ÷ engine',
        baseline: direct.name,
        candidate: target.name,
        streamed: true,
        maxTokens: plan.maxTokens,
        rows,
      });
    } finally {
      await nginx.stop();
    }
  }
  const portkey = await startPortkey(engineUrl);
  if (typeof portkey === 'string') notes.push(portkey);
  else {
    try {
      const rows = [];
      for (const concurrency of plan.concurrency) {
        const row = await compare(direct, portkey.target, {
          concurrency,
          rounds: plan.rounds,
          body: chatBody(plan.maxTokens, false),
          mode: 'complete',
        });
        log(
          `  ${portkey.target.name} ÷ direct (non-streamed) at ${concurrency}: ${row.ratio.median.toFixed(3)} (tokens per request ${row.tokensPerRequest.candidate.toFixed(1)} vs ${row.tokensPerRequest.baseline.toFixed(1)})`,
        );
        rows.push(row);
      }
      groups.push({
        key: 'portkey',
        title: '@portkey-ai/gateway ÷ engine (non-streamed)',
        baseline: direct.name,
        candidate: portkey.target.name,
        streamed: false,
        maxTokens: plan.maxTokens,
        rows,
      });
    } finally {
      await portkey.stop();
    }
  }
  return { groups, notes };
}
