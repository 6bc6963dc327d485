import { Agent, type Dispatcher } from 'undici';
import { readPem, type PemMaterial, type TlsFiles } from './material.ts';
import type { TlsMaterialSource } from './material-watcher.ts';
import { namedConnector, type ServerNameOf } from './server-names.ts';

export interface ClientAgentOptions {
  /** Idle keep-alive sockets are closed after this long (default 4 s, below the servers' own idle timeouts). */
  readonly keepAliveTimeout?: number;
  /**
   * The name to check a server's certificate against (and send as SNI) where it is not the URL's host: the DNS name
   * a node was found under, for a URL that holds its address. The CA check stays as it is.
   */
  readonly serverName?: ServerNameOf;
  /** How long a connection (TCP and TLS handshake) may take (default undici's 10 s). */
  readonly connectTimeout?: number;
}

const DEFAULT_KEEP_ALIVE_MS = 4_000;

/** An undici Agent that presents our client certificate and trusts only the given CA (when one is given). */
export function clientAgent(material: PemMaterial, options: ClientAgentOptions = {}): Agent {
  const tls = {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
    ...(options.connectTimeout === undefined ? {} : { timeout: options.connectTimeout }),
  } as const;
  return new Agent({
    connect: options.serverName === undefined ? tls : namedConnector(tls, options.serverName),
    keepAliveTimeout: options.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_MS,
  });
}

/** An undici Agent with the client certificate and CA read from files once (tests, one-shot CLI calls). */
export async function mtlsAgent(files: TlsFiles, options: ClientAgentOptions = {}): Promise<Agent> {
  return clientAgent(await readPem(files), options);
}

/** The agent a client sends through now; `close()` waits for the requests in flight. */
export interface ClientAgents {
  readonly current: Dispatcher;
  close(): Promise<void>;
}

/**
 * Agents for client material that rotates: each new material gets a new Agent for the requests that follow; the one
 * it replaces is closed once the requests it carries have ended, so a stream in flight finishes on its connection.
 */
export class RotatingAgent implements ClientAgents {
  #current: Agent;
  readonly #retiring = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;

  constructor(source: TlsMaterialSource, options: ClientAgentOptions = {}) {
    this.#current = clientAgent(source.material, options);
    this.#unsubscribe = source.onChange((material) => {
      const old = this.#current;
      this.#current = clientAgent(material, options);
      // undici's close() lets the requests in flight run to their end, then closes the sockets.
      const closing = old.close().catch(() => undefined);
      this.#retiring.add(closing);
      void closing.finally(() => this.#retiring.delete(closing));
    });
  }

  get current(): Dispatcher {
    return this.#current;
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    await Promise.all([this.#current.close(), ...this.#retiring]);
  }
}

/** Client agents for (m)TLS material that may rotate, or a plain agent when there is none. */
export function clientAgents(source: TlsMaterialSource | null, options: ClientAgentOptions = {}): ClientAgents {
  if (source !== null) return new RotatingAgent(source, options);
  const agent = new Agent({
    keepAliveTimeout: options.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_MS,
    ...(options.connectTimeout === undefined ? {} : { connect: { timeout: options.connectTimeout } }),
  });
  return { current: agent, close: () => agent.close() };
}
