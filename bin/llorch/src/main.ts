import { parseArgs } from 'node:util';
import { certsInit, certsIssue } from './commands/certs.ts';
import { chat } from './commands/chat.ts';
import { status } from './commands/status.ts';
import { pools, submit } from './commands/submit.ts';
import { parseEnv } from './config.ts';
import { home } from './home/home.ts';
import { USAGE } from './usage.ts';

const VERSION = '0.1.0';

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        config: { type: 'string', short: 'c' },
        model: { type: 'string', short: 'm' },
        json: { type: 'boolean' },
        'max-tokens': { type: 'string' },
        dir: { type: 'string' },
        name: { type: 'string' },
        usage: { type: 'string' },
        host: { type: 'string', multiple: true },
        priority: { type: 'string' },
        session: { type: 'string' },
        'deadline-ms': { type: 'string' },
      },
    });
  } catch (error) {
    process.stderr.write(`llorch: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, sub, ...rest] = positionals;
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  // eslint-disable-next-line no-restricted-syntax -- the one read of the environment, handed to config.ts
  const env = parseEnv(process.env);
  if (!env.ok) {
    process.stderr.write(`llorch: ${env.message}\n`);
    return 2;
  }
  switch (command) {
    case 'home':
      return home(env.value, { config: values.config, model: values.model });
    case 'status':
      return status(env.value, values.json === true);
    case 'chat': {
      const prompt = [sub, ...rest].filter((p) => p !== undefined).join(' ');
      const maxTokens = Number(values['max-tokens'] ?? 128);
      if (prompt === '' || !Number.isInteger(maxTokens) || maxTokens < 1) {
        process.stderr.write('llorch chat: give a prompt, and --max-tokens a positive integer\n');
        return 2;
      }
      return chat(env.value, prompt, values.model, maxTokens);
    }
    case 'submit': {
      const prompt = [sub, ...rest].filter((p) => p !== undefined).join(' ');
      const maxTokens = Number(values['max-tokens'] ?? 128);
      const priority = values.priority ?? 'interactive';
      if (
        prompt === '' ||
        !Number.isInteger(maxTokens) ||
        maxTokens < 1 ||
        (priority !== 'interactive' && priority !== 'batch')
      ) {
        process.stderr.write(
          'llorch submit: give a prompt; --max-tokens a positive integer; --priority interactive|batch\n',
        );
        return 2;
      }
      return submit(env.value, { prompt, model: values.model ?? 'demo', maxTokens, priority, session: values.session });
    }
    case 'pools': {
      const [poolId] = rest;
      if ((sub === 'drain' || sub === 'reload') && poolId !== undefined) {
        if (sub === 'reload' && values.model === undefined) {
          process.stderr.write('llorch pools reload: --model <ref> is required\n');
          return 2;
        }
        const deadline = Number(values['deadline-ms'] ?? 30_000);
        return pools(env.value, sub, poolId, sub === 'drain' ? { deadline_ms: deadline } : { model_ref: values.model });
      }
      process.stderr.write('llorch pools: drain <pool> [--deadline-ms n] | reload <pool> --model <ref>\n');
      return 2;
    }
    case 'certs': {
      if (values.dir === undefined) {
        process.stderr.write('llorch certs: --dir <dir> is required\n');
        return 2;
      }
      if (sub === 'init') return certsInit(values.dir);
      const usage = values.usage;
      if (
        sub === 'issue' &&
        values.name !== undefined &&
        /^[a-z0-9][a-z0-9.-]*$/i.test(values.name) &&
        (usage === 'server' || usage === 'client' || usage === 'both')
      ) {
        return certsIssue(values.dir, values.name, usage, values.host ?? []);
      }
      process.stderr.write(
        'llorch certs: init --dir <dir>, or issue --dir <dir> --name <cn> --usage server|client|both [--host <h>]\n',
      );
      return 2;
    }
    default:
      process.stderr.write(`llorch: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
