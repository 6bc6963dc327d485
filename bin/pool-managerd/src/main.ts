import { runUntilSignal } from '@llama-orch/lifecycle';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { loadConfig } from './config.ts';
import { NodeAgent } from './node-agent.ts';

const VERSION = '0.1.0';

async function main(): Promise<number> {
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const loaded = await loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write(`pool-managerd: ${loaded.message}\n`);
    return 2;
  }
  const log = pino({ name: 'pool-managerd', level: loaded.config.logLevel, redact: ['req.headers.authorization'] });
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const agent = new NodeAgent(loaded.config, log, metrics, VERSION);

  return runUntilSignal('pool-managerd', agent, log);
}

process.exitCode = await main();
