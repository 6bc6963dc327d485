import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { COMMAND_USAGE, type Command } from '../usage.ts';

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** A command's arguments, or the exit code to leave with (its --help printed, or a refusal explained). */
export type CommandArgs<O extends ParseArgsOptionsConfig> =
  | { readonly kind: 'run'; readonly values: Parsed<O>['values']; readonly positionals: readonly string[] }
  | { readonly kind: 'exit'; readonly code: number };

/**
 * Parse one command's own options: `--help` prints its usage (exit 0); an option it does not take, a missing
 * value or more positional arguments than `maxPositionals` are refused with the reason and exit code 2.
 */
export function commandArgs<O extends ParseArgsOptionsConfig>(
  command: Command,
  args: readonly string[],
  options: O,
  maxPositionals: number,
): CommandArgs<O> {
  const refuse = (message: string): CommandArgs<O> => {
    process.stderr.write(`llorch ${command}: ${message}\n\n${COMMAND_USAGE[command]}`);
    return { kind: 'exit', code: 2 };
  };
  const help = (): CommandArgs<O> => {
    process.stdout.write(COMMAND_USAGE[command]);
    return { kind: 'exit', code: 0 };
  };
  const options_ = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  let parsed: Parsed<O>;
  try {
    const all = parseArgs({ args: [...args], options: options_, allowPositionals: true, strict: true });
    if ((all.values as { help?: boolean }).help === true) return help();
    parsed = all;
  } catch (error) {
    // `--help` beside a mistake still helps (but not after `--`, where it is an argument).
    const end = args.indexOf('--');
    const before = end === -1 ? args : args.slice(0, end);
    if (before.includes('--help') || before.includes('-h')) return help();
    return refuse((error as Error).message);
  }
  const extra = parsed.positionals.slice(maxPositionals);
  if (extra.length > 0)
    return refuse(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => JSON.stringify(a)).join(' ')}`);
  return { kind: 'run', values: parsed.values, positionals: parsed.positionals };
}

/** A positive integer option, or null when it is not one. */
export function positiveInt(text: string | undefined, fallback: number): number | null {
  const value = Number(text ?? fallback);
  return Number.isInteger(value) && value >= 1 ? value : null;
}
