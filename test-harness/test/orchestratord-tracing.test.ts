import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AdmissionResponse } from '@llama-orch/contracts';
import { startCluster } from '../src/cluster.ts';
import { jsonRequest } from '../src/http-json.ts';
import { startOtlpCollector } from '../src/otlp-collector.ts';
import { waitFor } from '../src/processes.ts';
import { followEvents } from '../src/sse.ts';

describe('orchestratord tracing', { timeout: 45 * 60_000 }, () => {
  test('exports admission, placement, dispatch and stream spans over OTLP/gRPC and propagates traceparent to pool-managerd', async (t) => {
    const collector = await startOtlpCollector();
    t.after(collector.stop);
    const cluster = await startCluster([[{ id: 'demo', slots: 1 }]], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    t.after(cluster.cleanup);
    const admitted = await jsonRequest<AdmissionResponse>(`${cluster.url}/v2/tasks`, {
      method: 'POST',
      body: { task_id: 'traced', model_ref: 'demo', prompt: 'x', max_tokens: 3 },
    });
    assert.equal(admitted.status, 202);
    await followEvents(`${cluster.url}/v2/tasks/traced/events`);

    const node = cluster.nodes[0];
    assert.ok(node);
    const traceId = await waitFor(
      'pool-managerd to log the propagated trace id',
      () => {
        const line = node.proc
          .output()
          .split('\n')
          .find((l) => l.includes('"dispatch finished"') && l.includes('"correlation_id":"traced"'));
        return line === undefined ? undefined : ((JSON.parse(line) as { trace_id?: string }).trace_id ?? undefined);
      },
      10_000,
    );
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const exported = await waitFor(
      'the spans at the collector',
      () => {
        const all = Buffer.concat(collector.exports);
        return ['task', 'admission', 'placement', 'dispatch', 'stream'].every((name) =>
          all.includes(Buffer.from(name)),
        ) && all.includes(Buffer.from(traceId, 'hex'))
          ? all
          : undefined;
      },
      15_000,
    );
    assert.ok(exported.includes(Buffer.from('orchestratord')), 'the service name is exported');
  });
});
