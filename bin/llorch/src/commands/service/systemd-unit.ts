/** The name of the user unit that runs the HOME tree. */
export const UNIT_NAME = 'llorch-home.service';

/** systemd expands `%` specifiers in every value: a literal `%` is `%%`. */
const specifierSafe = (text: string): string => text.replace(/%/g, '%%');

/**
 * One word of a command line as systemd reads it: quoted when it holds white space, quotes or backslashes; `$`
 * doubled (systemd would expand variables) and `%` doubled (specifiers).
 */
export function execWord(word: string): string {
  const safe = specifierSafe(word).replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(safe) ? safe : `"${safe.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** An `Environment=` assignment, quoted as a whole. */
export function environmentLine(name: string, value: string): string {
  return `Environment="${specifierSafe(`${name}=${value}`).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A line of an `EnvironmentFile=`: `NAME="value"` (read without specifiers, with shell-like quoting). */
export function environmentFileLine(name: string, value: string): string {
  return `${name}="${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

export interface UnitSpec {
  /** Absolute node, absolute llorch script, then `home` and its flags. */
  readonly command: readonly string[];
  readonly workingDirectory: string;
  readonly environment: readonly (readonly [string, string])[];
  /** Secrets (API keys, tokens) kept out of the unit, in a file only the user reads; optional (`-`). */
  readonly environmentFile: string;
  readonly writtenAt: Date;
}

/**
 * The unit: `llorch home` in the foreground, SIGTERM to llorch alone on stop (it stops the daemons and engines
 * itself; whatever is left after TimeoutStopSec is killed with the whole cgroup), restarted on failure.
 */
export function renderUnit(spec: UnitSpec): string {
  return [
    `# Written by \`llorch service install\` on ${spec.writtenAt.toISOString()}; \`llorch service uninstall\` removes it.`,
    '[Unit]',
    'Description=llama-orch HOME: engines, pool-managerd and orchestratord (llorch home)',
    'StartLimitIntervalSec=300',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${spec.command.map(execWord).join(' ')}`,
    `WorkingDirectory=${specifierSafe(spec.workingDirectory)}`,
    ...spec.environment.map(([name, value]) => environmentLine(name, value)),
    `EnvironmentFile=-${specifierSafe(spec.environmentFile)}`,
    'Restart=on-failure',
    'RestartSec=5',
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=45',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}
