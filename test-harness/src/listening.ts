import { readFile } from 'node:fs/promises';

/** The IPv4 addresses a local TCP port listens on, from /proc/net/tcp (Linux). */
export async function listeningAddresses(port: number): Promise<string[]> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const addresses: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (local === undefined || state !== '0A') continue;
    const [hexIp, hexPort] = local.split(':');
    if (hexIp === undefined || Number.parseInt(hexPort ?? '', 16) !== port) continue;
    const bytes = (hexIp.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)).reverse();
    addresses.push(bytes.join('.'));
  }
  return addresses;
}
