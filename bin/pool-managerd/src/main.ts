import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseConfig } from './config.ts';
import { NodeAgent } from './node-agent.ts';

const VERSION = '0.1.0';

async function main(): Promise<number> {
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    process.stderr.write(`pool-managerd: ${parsed.message}\n`);
    return 2;
  }
  const log = pino({ name: 'pool-managerd', level: parsed.config.logLevel, redact: ['req.headers.authorization'] });
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const agent = new NodeAgent(parsed.config, log, metrics, VERSION);

  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      void agent.stop().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    await agent.start();
  } catch (error) {
    log.error({ err: error }, 'pool-managerd failed to start');
    process.stderr.write(`pool-managerd: ${(error as Error).message}\n`);
    await agent.stop();
    return 1;
  }
  await stopped;
  return 0;
}

process.exitCode = await main();
