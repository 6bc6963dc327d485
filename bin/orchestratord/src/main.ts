import { daemonCommandLine, runUntilSignal } from '@llama-orch/lifecycle';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseConfig } from './config.ts';
import { Orchestrator } from './orchestrator.ts';
import { startTracing } from './tracing.ts';

const VERSION = '0.1.0';

const USAGE = `orchestratord — the llama-orch control plane: OpenAI-compatible /v1 and native /v2/tasks over the pools of
the pool-managerd nodes it polls, with an admission queue, placement, SSE streams and cancel.

Usage: orchestratord [--help | --version]

It takes no arguments: the environment configures it (parsed once at start-up; a bad value stops it with the
variable's name), among others
  ORCHD_BIND_ADDR               host:port to listen on (default 127.0.0.1:8080 in HOME)
  ORCHD_POOL_MANAGERS           comma-separated pool-managerd URLs (default http://127.0.0.1:9200)
  ORCHD_PROFILE                 home (default) | cloud (TLS and API keys required)
  ORCHD_API_KEYS                comma-separated client keys (Authorization: Bearer or X-API-Key)
  ORCHD_TLS_CERT, _KEY, _CA     TLS material
  ORCHD_ADMISSION_CAPACITY, ORCHD_ADMISSION_POLICY   queue bound and what happens when it is full
  LOG_LEVEL                     fatal | error | warn | info (default) | debug | trace | silent
The README's orchestratord section lists every variable. SIGINT or SIGTERM stops it gracefully (every open stream
gets its terminal event); a second signal shortens the grace period, a third exits at once.
`;

async function main(argv: readonly string[]): Promise<number> {
  const answered = daemonCommandLine('orchestratord', argv, { usage: USAGE, version: VERSION });
  if (answered !== null) return answered;
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    process.stderr.write(`orchestratord: ${parsed.message}\n`);
    return 2;
  }
  const stopTracing = await startTracing(parsed.config.otlpEndpoint);
  // Written asynchronously (lines pile up while a write is in flight, then go as one): a synchronous write per
  // line stalls admission and the token path. pino flushes what is left when the process exits.
  const log = pino(
    {
      name: 'orchestratord',
      level: parsed.config.logLevel,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
    },
    pino.destination({ dest: 1, sync: false }),
  );
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const orchestrator = new Orchestrator(parsed.config, log, metrics, VERSION);
  return runUntilSignal('orchestratord', orchestrator, log, stopTracing === null ? {} : { afterStop: stopTracing });
}

process.exitCode = await main(process.argv.slice(2));
