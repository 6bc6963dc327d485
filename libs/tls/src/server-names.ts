import { isIPv6 } from 'node:net';
import { buildConnector } from 'undici';

/**
 * The DNS name a server's certificate must carry when it is not the host in the URL, by the URL's origin
 * (`https://10.1.2.3:9200`); undefined: the URL's own host. A node found through DNS is reached at its address but
 * named by the name it was found under, so its certificate names the Service, never a pod address.
 */
export type ServerNameOf = (origin: string) => string | undefined;

/** The origin as `new URL(…).origin` writes it, from the parts undici connects with (its IPv6 host without []). */
function originOf(target: buildConnector.Options): string {
  const host = isIPv6(target.hostname) ? `[${target.hostname}]` : target.hostname;
  return new URL(`${target.protocol}//${host}${target.port === '' ? '' : `:${target.port}`}`).origin;
}

/**
 * undici's own connector, except that an https connection to an origin `serverName` names is opened to the URL's
 * address with that name as SNI and as the name Node's `checkServerIdentity` checks the certificate against. The CA
 * check is untouched. Asked at each new connection, so a name that changes applies to the next one.
 */
export function namedConnector(
  options: buildConnector.BuildOptions,
  serverName: ServerNameOf,
): buildConnector.connector {
  const connect = buildConnector(options);
  return (target, callback) => {
    const name = target.protocol === 'https:' ? serverName(originOf(target)) : undefined;
    connect(name === undefined ? target : { ...target, servername: name }, callback);
  };
}
