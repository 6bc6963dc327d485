import { runUntilSignal } from '@llama-orch/lifecycle';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseConfig } from './config.ts';
import { Orchestrator } from './orchestrator.ts';
import { startTracing } from './tracing.ts';

const VERSION = '0.1.0';

async function main(): Promise<number> {
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    process.stderr.write(`orchestratord: ${parsed.message}\n`);
    return 2;
  }
  const stopTracing = startTracing(parsed.config.otlpEndpoint);
  const log = pino({
    name: 'orchestratord',
    level: parsed.config.logLevel,
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
  });
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const orchestrator = new Orchestrator(parsed.config, log, metrics, VERSION);
  return runUntilSignal('orchestratord', orchestrator, log, stopTracing ?? undefined);
}

process.exitCode = await main();
