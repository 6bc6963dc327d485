import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Context } from 'hono';

/**
 * A streamed answer written straight to Node's response, for the relays on the token path: no web-stream
 * adapter between the bytes and the socket. The route returns `response` (the adapter then writes nothing).
 */
export interface RawStream {
  /** Write text; resolves once the socket takes more (backpressure), or at once when the client is gone. */
  write(text: string): Promise<void>;
  /** Pipe a Node stream to the client; the answer ends when it ends. */
  pipe(source: Readable): void;
  end(): void;
  /** Cut the connection: the client sees a broken answer, not a whole one. */
  destroy(error: Error): void;
  /** Called once when the connection closes, whether the answer ended or the client went away. */
  onClose(listener: () => void): void;
  readonly closed: boolean;
  readonly response: Response;
}

/** Start a streamed answer on the request's own Node response; headers set by middleware (c.header) go with it. */
export function rawStream(c: Context, status: number, headers: Readonly<Record<string, string>>): RawStream {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing === undefined) throw new Error('a raw stream needs the request to be served by @hono/node-server');
  const head: Record<string, string> = {};
  c.res.headers.forEach((value, name) => {
    head[name] = value;
  });
  outgoing.writeHead(status, { ...head, ...headers });
  outgoing.flushHeaders();
  // A client that left before this answer began has already closed it: 'close' will not come again.
  let closed = outgoing.destroyed || outgoing.socket?.destroyed === true;
  outgoing.once('close', () => {
    closed = true;
  });
  return {
    write: (text) => {
      if (closed || outgoing.writableEnded) return Promise.resolve();
      if (outgoing.write(text)) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          outgoing.off('drain', done);
          outgoing.off('close', done);
          resolve();
        };
        outgoing.once('drain', done);
        outgoing.once('close', done);
      });
    },
    pipe: (source) => {
      source.pipe(outgoing);
    },
    end: () => {
      if (!outgoing.writableEnded) outgoing.end();
    },
    destroy: (error) => {
      outgoing.destroy(error);
    },
    onClose: (listener) => {
      if (closed) listener();
      else outgoing.once('close', listener);
    },
    get closed() {
      return closed;
    },
    response: alreadySent(),
  };
}

/**
 * The answer that tells @hono/node-server the route wrote its response itself (its `x-hono-already-sent` marker,
 * as in its RESPONSE_ALREADY_SENT). One per request, and read once (`statusText`) so that node-server's
 * lightweight Response drops its shortcut cache: the shortcut path would write the headers a second time.
 */
function alreadySent(): Response {
  const response = new Response(null, { headers: { 'x-hono-already-sent': 'true' } });
  void response.statusText;
  return response;
}
