import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request, type Dispatcher } from 'undici';
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
}

const MAX_REDIRECTS = 10;

/**
 * Download `url` into `partial`, resuming from what `partial` already holds (HTTP Range). Redirects are
 * followed (Hugging Face answers with one to its CDN). Returns when the file is complete.
 */
export async function downloadResumable(url: string, partial: string, options: DownloadOptions = {}): Promise<void> {
  const have = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
  let target = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const headers: Record<string, string> = { ...options.headers };
    if (have > 0) headers['range'] = `bytes=${have}-`;
    const response = await request(target, {
      method: 'GET',
      headers,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch((error: Error) => {
      throw new ModelError('PROV_MODEL_FETCH_FAILED', `download of ${url} failed: ${error.message}`);
    });
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
      const text = (await response.body.text()).slice(0, 200);
      throw new ModelError(
        'PROV_MODEL_FETCH_FAILED',
        `download of ${url} failed: HTTP ${response.statusCode}${text ? ` (${text.trim()})` : ''}`,
      );
    }
    const resuming = response.statusCode === 206;
    const start = resuming ? have : 0;
    const length = Number(response.headers['content-length']);
    const total = Number.isFinite(length) ? start + length : null;
    let bytes = start;
    const began = Date.now();
    let lastReport = 0;
    // Flowing mode with an ended (not destroyed) sink: every chunk that arrived is on disk even when the
    // connection is cut, so the next start resumes from there.
    const sink = createWriteStream(partial, { flags: resuming ? 'a' : 'w' });
    const body = response.body;
    try {
      await new Promise<void>((resolve, reject) => {
        let failure: Error | null = null;
        body.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (!sink.write(chunk)) {
            body.pause();
            sink.once('drain', () => body.resume());
          }
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
        });
        body.once('end', () => sink.end());
        body.once('error', (error: Error) => {
          failure = error;
          sink.end();
        });
        sink.once('error', reject);
        sink.once('close', () => (failure === null ? resolve() : reject(failure)));
      });
    } catch (error) {
      throw new ModelError(
        'PROV_MODEL_FETCH_FAILED',
        `download of ${url} was interrupted after ${bytes} bytes (${(error as Error).message}); it resumes on the next start`,
      );
    }
    if (total !== null && bytes !== total)
      throw new ModelError('PROV_MODEL_FETCH_FAILED', `download of ${url} ended early: ${bytes} of ${total} bytes`);
    return;
  }
  throw new ModelError('PROV_MODEL_FETCH_FAILED', `download of ${url} failed: more than ${MAX_REDIRECTS} redirects`);
}
