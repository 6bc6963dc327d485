/**
 * A real DNS server on loopback (UDP, the dns2 package) whose records a test changes while daemons resolve
 * against it: no mocked resolver. Records carry TTL 0, so no cache between a change and the next lookup.
 */
import dns2 from 'dns2';

const { Packet } = dns2;

export interface SrvRecord {
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

/** Records by name (no trailing dot). A name in none of the maps is NXDOMAIN; a known name without the asked type answers NOERROR with no data. */
export interface DnsZone {
  readonly a?: Readonly<Record<string, readonly string[]>>;
  readonly aaaa?: Readonly<Record<string, readonly string[]>>;
  readonly srv?: Readonly<Record<string, readonly SrvRecord[]>>;
}

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, as ORCHD_DNS_SERVERS takes it. */
  readonly address: string;
  /** Replace every record; the next query sees the new zone. */
  setZone(zone: DnsZone): void;
  /** Answer every query SERVFAIL (a broken upstream) until called with false. */
  setFailing(failing: boolean): void;
  /** Queries answered so far, by `<type> <name>`. */
  readonly queries: () => readonly string[];
  readonly close: () => Promise<void>;
}

const key = (name: string): string => name.replace(/\.$/, '').toLowerCase();

/**
 * The answer without name compression. RFC 2782 forbids compressing an SRV target; dns2 compresses every name it
 * has written before, and c-ares (Node's resolver) rejects such an SRV answer (EBADRESP). A writer whose `names`
 * table is not a Map makes dns2 write every name in full.
 */
function uncompressed(response: dns2.Packet): Buffer {
  const writer = new Packet.Writer() as dns2.Packet.Writer & { names?: unknown };
  writer.names = {};
  // Packet#toBuffer takes the writer at run time; dns2's type declaration leaves the parameter out.
  return (response as unknown as { toBuffer(writer: dns2.Packet.Writer): Buffer }).toBuffer(writer);
}

function answer(zone: DnsZone, name: string, type: number): dns2.Packet.Resource[] | null {
  const a = zone.a?.[name];
  const aaaa = zone.aaaa?.[name];
  const srv = zone.srv?.[name];
  if (a === undefined && aaaa === undefined && srv === undefined) return null;
  const base = { name, class: Packet.CLASS.IN, ttl: 0 };
  if (type === Packet.TYPE.A) return (a ?? []).map((address) => ({ ...base, type, address }) as dns2.Packet.Resource);
  if (type === Packet.TYPE.AAAA)
    return (aaaa ?? []).map((address) => ({ ...base, type, address }) as dns2.Packet.Resource);
  if (type === Packet.TYPE.SRV)
    return (srv ?? []).map(
      (r) =>
        ({
          ...base,
          type,
          target: r.target,
          port: r.port,
          priority: r.priority ?? 10,
          weight: r.weight ?? 10,
        }) as dns2.Packet.Resource,
    );
  return [];
}

/** Start the server on a free UDP port of 127.0.0.1. */
export async function startDnsServer(initial: DnsZone = {}): Promise<TestDnsServer> {
  let zone = initial;
  let failing = false;
  const seen: string[] = [];
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      if (question !== undefined) {
        const name = key(question.name);
        seen.push(`${question.type} ${name}`);
        const records = failing ? [] : answer(zone, name, question.type);
        if (failing) response.header.rcode = Packet.RCODE.SERVFAIL;
        else if (records === null) response.header.rcode = Packet.RCODE.NXDOMAIN;
        else response.answers.push(...records);
      }
      void send(uncompressed(response));
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = addresses.udp?.port;
  if (port === undefined) throw new Error('the DNS server has no UDP port');
  return {
    address: `127.0.0.1:${port}`,
    setZone: (next) => {
      zone = next;
    },
    setFailing: (next) => {
      failing = next;
    },
    queries: () => seen,
    close: () => server.close(),
  };
}
