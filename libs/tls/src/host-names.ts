import { isIP } from 'node:net';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const MAX_NAME_LENGTH = 253;

/** What is wrong with a DNS name (no wildcard), or null. One trailing dot (a fully qualified name) is allowed. */
function nameProblem(name: string): string | null {
  const labels = name.replace(/\.$/, '').split('.');
  if (name.length > MAX_NAME_LENGTH) return `longer than ${MAX_NAME_LENGTH} characters`;
  for (const label of labels) {
    if (label === '') return 'has an empty label';
    if (!LABEL.test(label)) return `label "${label}" is not letters, digits, "-" and "_" (at most 63)`;
  }
  return null;
}

/**
 * What is wrong with a name a server certificate is issued for, or null: an IP address, a DNS name, or a wildcard
 * DNS name `*.<name>` whose `*` is the whole leftmost label with at least two labels after it — the only form RFC
 * 6125 recommends and Node's `tls.checkServerIdentity` matches (it covers exactly one label: `*.svc.example` is
 * valid for `a.svc.example`, not for `svc.example` nor `a.b.svc.example`).
 */
export function hostProblem(host: string): string | null {
  if (isIP(host) !== 0) return null;
  if (!host.includes('*')) return nameProblem(host);
  if (!host.startsWith('*.'))
    return 'a wildcard must be the whole leftmost label, as in *.pool-managerd.llama-orch.svc.cluster.local';
  const rest = host.slice(2);
  if (rest.includes('*')) return 'only the leftmost label may be a wildcard';
  const problem = nameProblem(rest);
  if (problem !== null) return problem;
  if (rest.replace(/\.$/, '').split('.').length < 2)
    return 'a wildcard needs at least two labels after "*." (TLS clients never match *.<top-level name>)';
  return null;
}
