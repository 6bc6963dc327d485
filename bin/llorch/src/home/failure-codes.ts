import type { FindingCode, ProvisioningErrorCode } from '@llama-orch/provisioning';
import { z } from 'zod';

/**
 * The codes `llorch home` knows what to do about: provisioning's stable codes, the codes of the findings a
 * refused plan lists, and Node's EADDRINUSE. A daemon may log other codes; they are kept as plain strings.
 */
export type FailureCode = ProvisioningErrorCode | FindingCode | 'EADDRINUSE';

/** The error part of a daemon's JSON log line, as pino's error serializer writes it. */
const LoggedErrorSchema = z.looseObject({
  err: z.looseObject({
    code: z.string().optional(),
    findings: z.array(z.looseObject({ code: z.string() })).optional(),
  }),
});

/**
 * What a log line says went wrong, as codes: the error's own (`err.code`) and, for a refused plan, the codes of
 * its findings (`err.findings[].code`). None for a line without a coded error.
 */
export function failureCodes(line: unknown): string[] {
  const parsed = LoggedErrorSchema.safeParse(line);
  if (!parsed.success) return [];
  const { code, findings } = parsed.data.err;
  return [...(code === undefined ? [] : [code]), ...(findings ?? []).map((f) => f.code)];
}
