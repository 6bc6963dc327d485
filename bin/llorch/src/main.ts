import { parseArgs } from 'node:util';
import { USAGE } from './usage.ts';
import { home } from './home.ts';

const VERSION = '0.1.0';

function main(argv: readonly string[]): number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
  });
  if (values['version'] === true) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command] = positionals;
  if (values['help'] === true || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && values['help'] !== true ? 2 : 0;
  }
  if (command === 'home') return home();
  process.stderr.write(`llorch: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
