import { createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request, type Dispatcher } from 'undici';
import { GGUF_MAGIC } from './gguf-format.ts';
import { ModelError } from './model-error.ts';

export interface DownloadProgress {
  readonly bytes: number;
  readonly total: number | null;
  readonly bytesPerSecond: number;
  readonly etaSeconds: number | null;
}

export interface DownloadOptions {
  readonly dispatcher?: Dispatcher;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** The longest wait for each response's headers, name lookup, connect and TLS included. */
  readonly headersTimeoutMs?: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 10;
const ERROR_TEXT_CHARS = 200;

/** Why a request got no answer, in plain words; the system's code stays in brackets for searching. */
const NETWORK_CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_BODY_TIMEOUT: 'no data for too long',
};
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

function networkCause(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    const words = NETWORK_CAUSES[code] ?? (TLS_CODE.test(code) ? 'TLS failed' : null);
    if (words !== null) return `${words} (${code})`;
  }
  return error instanceof Error ? error.message || error.name : String(error);
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

/** The media type alone (`text/html`), never the rest of what the server put in the header. */
function mediaType(response: Dispatcher.ResponseData): string | null {
  const header = response.headers['content-type'];
  return typeof header === 'string' ? (/^[\w.+-]+\/[\w.+-]+/.exec(header)?.[0]?.toLowerCase() ?? null) : null;
}

/**
 * Why the first bytes of a fresh download are not a GGUF model, or null when they are. Describes what came
 * (an HTML page, JSON, the hex of four bytes) without echoing the server's text, which may hold anything.
 */
function notGguf(head: Buffer, type: string | null): string | null {
  if (head.length >= 4 && head.readUInt32LE(0) === GGUF_MAGIC) return null;
  const of = type === null ? '' : ` (content-type ${type})`;
  if (head.length < 4) return `it is only ${head.length} bytes long${of}`;
  const text = head.subarray(0, 64).toString('latin1').trimStart();
  if (text.startsWith('<')) return `it starts like an HTML or XML page${of}`;
  if (text.startsWith('{') || text.startsWith('[')) return `it starts like JSON${of}`;
  return `it starts with the bytes ${head.subarray(0, 4).toString('hex').replace(/../g, '$& ').trim()}, not GGUF${of}`;
}

/** The start of an error answer, as one short line (an HTML page is named, not quoted); the rest is not read. */
async function errorText(response: Dispatcher.ResponseData): Promise<string> {
  if (mediaType(response) === 'text/html') {
    response.body.destroy();
    return 'an HTML page';
  }
  let text = '';
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8');
    if (text.length >= ERROR_TEXT_CHARS) break;
  }
  return text
    .slice(0, ERROR_TEXT_CHARS)
    .replace(/[\p{Cc}\s]+/gu, ' ')
    .trim();
}

/**
 * Download `url` into `partial`, resuming from what `partial` already holds (HTTP Range). Redirects are
 * followed (Hugging Face answers with one to its CDN). A fresh answer is refused on its content type or its
 * first bytes when it is not GGUF, before anything is written; so a `.partial` only ever holds the start of a
 * GGUF file. Returns when the file is complete.
 */
export async function downloadResumable(url: string, partial: string, options: DownloadOptions = {}): Promise<void> {
  const have = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
  const timeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  let target = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const headers: Record<string, string> = { ...options.headers };
    if (have > 0) headers['range'] = `bytes=${have}-`;
    // One deadline from the request to its headers: a host that never answers, at any step, fails in time.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const response = await request(target, {
      method: 'GET',
      headers,
      signal: options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    })
      .catch((error: unknown) => {
        const cause = deadline.signal.aborted ? `no response within ${duration(timeoutMs)}` : networkCause(error);
        throw new ModelError('PROV_MODEL_FETCH_FAILED', `download of ${url} failed: ${cause}`);
      })
      .finally(() => clearTimeout(timer));
    const location = response.headers['location'];
    if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === 'string') {
      await response.body.dump();
      target = new URL(location, target).toString();
      continue;
    }
    if (response.statusCode === 416 && have > 0) {
      await response.body.dump();
      return; // the partial file already holds every byte
    }
    if (response.statusCode !== 200 && response.statusCode !== 206) {
      const text = await errorText(response).catch(() => '');
      throw new ModelError(
        'PROV_MODEL_FETCH_FAILED',
        `download of ${url} failed: HTTP ${response.statusCode}${text ? ` (${text})` : ''}`,
      );
    }
    const resuming = response.statusCode === 206;
    const type = mediaType(response);
    if (!resuming && type === 'text/html') {
      response.body.destroy();
      throw new ModelError(
        'PROV_MODEL_NOT_GGUF',
        `${url} is not a GGUF model: it is an HTML page (content-type ${type})`,
      );
    }
    const start = resuming ? have : 0;
    const length = Number(response.headers['content-length']);
    const total = Number.isFinite(length) ? start + length : null;
    const bytes = await save(url, response.body, partial, { resuming, start, total, type, options });
    if (total !== null && bytes !== total)
      throw new ModelError('PROV_MODEL_FETCH_FAILED', `download of ${url} ended early: ${bytes} of ${total} bytes`);
    return;
  }
  throw new ModelError('PROV_MODEL_FETCH_FAILED', `download of ${url} failed: more than ${MAX_REDIRECTS} redirects`);
}

interface SaveContext {
  readonly resuming: boolean;
  readonly start: number;
  readonly total: number | null;
  readonly type: string | null;
  readonly options: DownloadOptions;
}

/**
 * Write `body` to `partial` and resolve with the bytes the file then holds. A resumed body is appended; a
 * fresh one is held back until its first four bytes are the GGUF magic, and otherwise refused at once. Flowing
 * mode with an ended (not destroyed) sink: every chunk that arrived is on disk even when the connection is
 * cut, so the next start resumes from there.
 */
function save(
  url: string,
  body: Dispatcher.ResponseData['body'],
  partial: string,
  { resuming, start, total, type, options }: SaveContext,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let bytes = start;
    const began = Date.now();
    let lastReport = 0;
    let head: Buffer = Buffer.alloc(0);
    let failure: unknown = null;
    let sink: WriteStream | null = null;
    const open = (flags: 'a' | 'w'): WriteStream => {
      const stream = createWriteStream(partial, { flags });
      stream.once('error', reject);
      stream.once('close', () => (failure === null ? resolve(bytes) : reject(interrupted(failure))));
      return stream;
    };
    const interrupted = (error: unknown): ModelError =>
      new ModelError(
        'PROV_MODEL_FETCH_FAILED',
        sink === null
          ? `download of ${url} failed after ${bytes} bytes: ${networkCause(error)}`
          : `download of ${url} was interrupted after ${bytes} bytes (${networkCause(error)}); it resumes on the next start`,
      );
    const write = (chunk: Buffer, to: WriteStream): void => {
      if (!to.write(chunk)) {
        body.pause();
        to.once('drain', () => body.resume());
      }
    };
    if (resuming) sink = open('a');
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const now = Date.now();
      if (options.onProgress && (now - lastReport > 250 || bytes === total)) {
        lastReport = now;
        const rate = ((bytes - start) * 1000) / Math.max(1, now - began);
        options.onProgress({
          bytes,
          total,
          bytesPerSecond: rate,
          etaSeconds: total !== null && rate > 0 ? (total - bytes) / rate : null,
        });
      }
      if (sink !== null) return write(chunk, sink);
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      const problem = notGguf(head, type);
      if (problem !== null) {
        body.destroy();
        reject(new ModelError('PROV_MODEL_NOT_GGUF', `${url} is not a GGUF model: ${problem}`));
        return;
      }
      sink = open('w');
      write(head, sink);
    });
    body.once('end', () => {
      if (sink !== null) sink.end();
      else reject(new ModelError('PROV_MODEL_NOT_GGUF', `${url} is not a GGUF model: ${notGguf(head, type)}`));
    });
    body.on('error', (error: Error) => {
      if (sink === null) reject(interrupted(error));
      else if (failure === null) {
        failure = error;
        sink.end();
      }
    });
  });
}
