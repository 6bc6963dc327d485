import { parseArgs } from 'node:util';

/**
 * A daemon's command line, which the environment configures: `--help` prints the usage and `--version` the version,
 * both with status 0; anything else — an unknown option, a stray argument — is refused with the usage (status 2).
 * Returns null when there is nothing on the command line, and the daemon should start.
 */
export function daemonCommandLine(
  name: string,
  argv: readonly string[],
  texts: { readonly usage: string; readonly version: string },
): number | null {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help === true) process.stdout.write(texts.usage);
    else if (values.version === true) process.stdout.write(`${texts.version}\n`);
    else return null;
    return 0;
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n\n${texts.usage}`);
    return 2;
  }
}
