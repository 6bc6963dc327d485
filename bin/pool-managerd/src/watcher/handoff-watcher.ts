import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { HandoffSchema, handoffFileName, validate, type Handoff } from '@llama-orch/contracts';
import { Periodic } from '@llama-orch/lifecycle';
import type { Logger } from 'pino';

export type HandoffOutcome = 'accepted' | 'invalid' | 'removed';

export interface HandoffSink {
  upsert(handoff: Handoff, file: string): void;
  remove(poolId: string, replicaId: string, file: string): void;
  /** Every file read: its outcome, its pool (null when the file is invalid) and how long reading and reconciling took. */
  processed(outcome: HandoffOutcome, poolId: string | null, durationMs: number): void;
}

const isHandoffName = (name: string): boolean => name.endsWith('.json') && !name.startsWith('.');

/**
 * Watches `<dir>/*.json` (chokidar events, plus a full rescan every `intervalMs` as the fallback) and
 * turns files into registry updates. A bad file is logged with its reason and ignored, never fatal.
 */
export class HandoffWatcher {
  readonly #dir: string;
  readonly #sink: HandoffSink;
  readonly #log: Logger;
  /** file → what we accepted from it (mtime + content), so rescans only act on real changes. */
  readonly #known = new Map<string, { key: string; handoff: Handoff | null }>();
  readonly #rescans: Periodic;
  #watcher: FSWatcher | null = null;
  /** Every file event and rescan runs in this one queue, in order, never two at once. */
  #queue: Promise<void> = Promise.resolve();

  constructor(dir: string, intervalMs: number, sink: HandoffSink, log: Logger) {
    this.#dir = dir;
    this.#sink = sink;
    this.#log = log;
    this.#rescans = new Periodic({
      name: 'handoff rescan',
      intervalMs,
      tick: () => this.#enqueue(() => this.#rescan()),
      log,
    });
  }

  /** Run `work` after everything queued before it; a failure is logged and the queue goes on. */
  #enqueue(work: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(work).catch((error: unknown) => {
      this.#log.warn({ err: error }, 'handoff reconcile failed; the next event or rescan retries');
    });
    return this.#queue;
  }

  async start(): Promise<void> {
    this.#watcher = watch(this.#dir, {
      depth: 0,
      ignoreInitial: false,
      ignored: (path, stats) => path !== this.#dir && (stats?.isDirectory() === true || !isHandoffName(basename(path))),
    });
    const enqueue = (file: string): void => void this.#enqueue(() => this.#examine(file));
    this.#watcher.on('add', enqueue).on('change', enqueue).on('unlink', enqueue);
    this.#watcher.on('error', (error) =>
      this.#log.warn({ err: error }, 'handoff watcher error; the periodic rescan continues'),
    );
    await new Promise<void>((resolve) => this.#watcher?.once('ready', resolve));
    await this.#rescans.start(false);
    await this.#queue;
  }

  async stop(): Promise<void> {
    await this.#rescans.stop();
    await this.#watcher?.close();
    this.#watcher = null;
    await this.#queue;
  }

  async #rescan(): Promise<void> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    const files = new Set(names.filter(isHandoffName).map((name) => join(this.#dir, name)));
    for (const file of new Set([...files, ...this.#known.keys()])) await this.#examine(file);
  }

  /** Reconcile one file: absent → remove, unchanged → nothing, changed → validate and upsert. */
  async #examine(file: string): Promise<void> {
    const began = performance.now();
    const previous = this.#known.get(file);
    const info = await stat(file).catch(() => null);
    if (info === null) {
      if (previous === undefined) return;
      this.#known.delete(file);
      if (previous.handoff !== null) {
        this.#sink.remove(previous.handoff.pool_id, previous.handoff.replica_id, file);
        this.#sink.processed('removed', previous.handoff.pool_id, performance.now() - began);
        this.#log.info({ file, pool_id: previous.handoff.pool_id }, 'handoff removed');
      }
      return;
    }
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text === null) return;
    const key = `${info.mtimeMs}:${info.size}:${text}`;
    if (previous?.key === key) return;
    const handoff = this.#parse(file, text);
    if (handoff === null) {
      // A bad file is ignored; if it replaced a good one, that replica is gone too.
      this.#known.set(file, { key, handoff: null });
      if (previous?.handoff) this.#sink.remove(previous.handoff.pool_id, previous.handoff.replica_id, file);
      this.#sink.processed('invalid', null, performance.now() - began);
      return;
    }
    this.#known.set(file, { key, handoff });
    this.#sink.upsert(handoff, file);
    this.#sink.processed('accepted', handoff.pool_id, performance.now() - began);
  }

  #parse(file: string, text: string): Handoff | null {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      this.#log.warn({ file, reason: `not JSON (${(error as Error).message})` }, 'ignoring handoff file');
      return null;
    }
    const checked = validate(HandoffSchema, json);
    if (!checked.ok) {
      this.#log.warn({ file, reason: checked.message }, 'ignoring handoff file');
      return null;
    }
    const expected = handoffFileName(checked.value.pool_id, checked.value.replica_id);
    if (basename(file) !== expected) {
      this.#log.warn(
        {
          file,
          reason: `a handoff for ${checked.value.pool_id}/${checked.value.replica_id} must be named ${expected}`,
        },
        'ignoring handoff file',
      );
      return null;
    }
    return checked.value;
  }
}
