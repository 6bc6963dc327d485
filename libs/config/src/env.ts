import { isIP } from 'node:net';
import { z } from 'zod';

/** An integer variable within bounds (environment values are strings: coerced). */
export const envInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The entries of a comma-separated value, trimmed, blanks dropped. */
export const splitList = (list: string): string[] =>
  list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

/** An optional comma-separated list, each entry checked by `item`; unset is the empty list. */
export const commaList = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .optional()
    .transform((list) => splitList(list ?? ''))
    .pipe(z.array(item));

/** `host:port` or `[v6]:port` split into its parts (brackets dropped); null when it is neither. */
export function splitBind(bind: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(bind);
  if (match === null) return null;
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

/** A bind address variable, parsed to host and port; the example names the daemon's default. */
export const bindAddr = (example: string) =>
  z.string().transform((bind, ctx) => {
    const parts = splitBind(bind);
    if (parts === null) {
      ctx.addIssue({ code: 'custom', message: `must be host:port, e.g. ${example}` });
      return z.NEVER;
    }
    if (parts.port > 65535) {
      ctx.addIssue({ code: 'custom', message: 'port must be at most 65535' });
      return z.NEVER;
    }
    return parts;
  });

/** A TCP port variable, `0` meaning any free port; the example names the daemon's usual choice. */
export const tcpPort = (example: number) =>
  z
    .string()
    .regex(/^\d{1,5}$/, `must be a TCP port, e.g. ${example} (0: any free port)`)
    .transform(Number)
    .pipe(z.number().max(65535, 'must be a TCP port, at most 65535'));

/** LOG_LEVEL, as pino names its levels. */
export const logLevel = () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** Whether a host (name or address, IPv6 with or without brackets) is this machine's loopback. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}
