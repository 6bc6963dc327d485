import { daemonCommandLine, runUntilSignal } from '@llama-orch/lifecycle';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { loadConfig } from './config.ts';
import { NodeAgent } from './node-agent.ts';

const VERSION = '0.1.0';

const USAGE = `pool-managerd — the llama-orch node agent: watches <runtime dir>/engines for handoff files, serves pool
status, drain, reload and dispatch over HTTP(S), and with LLORCH_CONFIG runs the engines of that node config itself.

Usage: pool-managerd [--help | --version]

It takes no arguments: the environment configures it (parsed once at start-up; a bad value stops it with the
variable's name), among others
  POOL_MANAGERD_BIND_ADDR       host:port to listen on (default 127.0.0.1:9200)
  POOL_MANAGERD_RUNTIME_DIR     state directory; handoff files in <dir>/engines, engine logs in <dir>/logs
  POOL_MANAGERD_PROFILE         home (default) | cloud (mutual TLS required)
  POOL_MANAGERD_TLS_CERT, _KEY, _CA   TLS material (the CA turns on mutual TLS)
  LLORCH_CONFIG                 node/pool YAML whose engines this process provisions and runs
  LOG_LEVEL                     fatal | error | warn | info (default) | debug | trace | silent
The README's pool-managerd section lists every variable. SIGINT or SIGTERM stops it gracefully (engines included);
a second signal shortens the grace period, a third exits at once.
`;

async function main(argv: readonly string[]): Promise<number> {
  const answered = daemonCommandLine('pool-managerd', argv, { usage: USAGE, version: VERSION });
  if (answered !== null) return answered;
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const loaded = await loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write(`pool-managerd: ${loaded.message}\n`);
    return 2;
  }
  // Written asynchronously (lines pile up while a write is in flight, then go as one): a synchronous write per
  // line stalls the event loop on the token path. pino flushes what is left when the process exits.
  const log = pino(
    { name: 'pool-managerd', level: loaded.config.logLevel, redact: ['req.headers.authorization'] },
    pino.destination({ dest: 1, sync: false }),
  );
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const agent = new NodeAgent(loaded.config, log, metrics, VERSION);

  return runUntilSignal('pool-managerd', agent, log);
}

process.exitCode = await main(process.argv.slice(2));
