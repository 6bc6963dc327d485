import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { HandoffSchema, handoffFileName, validate, type Handoff } from '@llama-orch/contracts';
import { Periodic } from '@llama-orch/lifecycle';
import type { Logger } from 'pino';

export type HandoffOutcome = 'accepted' | 'invalid' | 'removed';

export interface HandoffSink {
  upsert(handoff: Handoff, file: string): void;
  remove(poolId: string, replicaId: string, file: string): void;
  /** Every file examined after a change: its outcome, its pool (null when invalid or refused) and how long examining and reconciling took. */
  processed(outcome: HandoffOutcome, poolId: string | null, durationMs: number): void;
}

/** A real handoff is a few hundred bytes; anything past this is refused by its size and never read. */
export const MAX_HANDOFF_BYTES = 64 * 1024;

const isHandoffName = (name: string): boolean => name.endsWith('.json') && !name.startsWith('.');

/** What a file was when last examined: unchanged identity means nothing to read. */
const identityOf = (info: Stats): string => `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;

const SYMLINK_REASON = 'a symbolic link (handoffs are read only as regular files)';

function notRegularReason(info: Stats): string {
  const kind = info.isFIFO()
    ? 'a FIFO'
    : info.isSocket()
      ? 'a socket'
      : info.isDirectory()
        ? 'a directory'
        : info.isCharacterDevice() || info.isBlockDevice()
          ? 'a device'
          : 'not a regular file';
  return `${kind} (handoffs are read only as regular files)`;
}

const oversizeReason = (size: string): string => `${size}, over the ${MAX_HANDOFF_BYTES}-byte cap for a handoff file`;

const codeOf = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? 'unknown error';

/** Read at most `limit` bytes from the start of an open file; null when it holds more. */
async function readCapped(handle: FileHandle, limit: number): Promise<Buffer | null> {
  const buffer = Buffer.alloc(limit + 1);
  let filled = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
    if (bytesRead === 0) return buffer.subarray(0, filled);
    filled += bytesRead;
    if (filled > limit) return null;
  }
}

/** Why a file with these stats is refused without reading it, or null when it may be read. */
function refusalOf(info: Stats): string | null {
  if (info.isSymbolicLink()) return SYMLINK_REASON;
  if (!info.isFile()) return notRegularReason(info);
  if (info.size > MAX_HANDOFF_BYTES) return oversizeReason(`${info.size} bytes`);
  return null;
}

/** One look at a file: gone, unchanged (so not read), refused (with a reason that never quotes its bytes), or read. */
type Look =
  | { kind: 'absent' }
  | { kind: 'unchanged' }
  | { kind: 'refused'; identity: string; reason: string }
  | { kind: 'read'; identity: string; text: string };

/**
 * Look at `file` without trusting it. lstat first: an unchanged identity is not read at all, and a symlink,
 * anything but a regular file, or a file over the cap is refused without being opened. Then the open
 * (O_NOFOLLOW, O_NONBLOCK: a FIFO swapped in meanwhile cannot block) and fstat check the same again on
 * the handle that is read, and the read itself stops past the cap.
 */
async function look(file: string, known: string | undefined): Promise<Look> {
  const linkInfo = await lstat(file).catch(() => null);
  if (linkInfo === null) return { kind: 'absent' };
  const linkIdentity = identityOf(linkInfo);
  if (linkIdentity === known) return { kind: 'unchanged' };
  const refused = refusalOf(linkInfo);
  if (refused !== null) return { kind: 'refused', identity: linkIdentity, reason: refused };
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'ENOENT') return { kind: 'absent' };
    const reason = code === 'ELOOP' ? SYMLINK_REASON : `cannot be opened (${code})`;
    return { kind: 'refused', identity: linkIdentity, reason };
  }
  try {
    const info = await handle.stat();
    const identity = identityOf(info);
    const swapped = refusalOf(info);
    if (swapped !== null) return { kind: 'refused', identity, reason: swapped };
    const bytes = await readCapped(handle, MAX_HANDOFF_BYTES).catch((error: unknown) => codeOf(error));
    if (typeof bytes === 'string') return { kind: 'refused', identity, reason: `cannot be read (${bytes})` };
    if (bytes === null) return { kind: 'refused', identity, reason: oversizeReason('grew while being read') };
    return { kind: 'read', identity, text: bytes.toString('utf8') };
  } finally {
    await handle.close();
  }
}

/**
 * Watches `<dir>/*.json` (chokidar events, plus a full rescan every `intervalMs` as the fallback) and
 * turns files into registry updates. A bad or hostile file (symlink, FIFO, device, oversized, not a
 * handoff) is logged once per change with its reason, never its bytes, and ignored; never fatal.
 */
export class HandoffWatcher {
  readonly #dir: string;
  readonly #sink: HandoffSink;
  readonly #log: Logger;
  /** file → its identity when last examined and what we accepted from it, so rescans only act on real changes. */
  readonly #known = new Map<string, { identity: string; handoff: Handoff | null }>();
  readonly #rescans: Periodic;
  #watcher: FSWatcher | null = null;
  /** Every file event and rescan runs in this one queue, in order, never two at once. */
  #queue: Promise<void> = Promise.resolve();

  constructor(dir: string, intervalMs: number, sink: HandoffSink, log: Logger) {
    this.#dir = dir;
    this.#sink = sink;
    this.#log = log;
    this.#rescans = new Periodic({ name: 'handoff rescan', intervalMs, tick: () => this.rescan(), log });
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
      // A symlink is reported as itself (and then refused), never followed out of the directory.
      followSymlinks: false,
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

  /** Reconcile every file in the directory now, as the periodic rescan does; resolves once done. */
  rescan(): Promise<void> {
    return this.#enqueue(async () => {
      const names = await readdir(this.#dir).catch(() => [] as string[]);
      const files = new Set(names.filter(isHandoffName).map((name) => join(this.#dir, name)));
      for (const file of new Set([...files, ...this.#known.keys()])) await this.#examine(file);
    });
  }

  /** Reconcile one file: absent → remove, unchanged → nothing (not even read), changed → check, validate, upsert. */
  async #examine(file: string): Promise<void> {
    const began = performance.now();
    const previous = this.#known.get(file);
    const seen = await look(file, previous?.identity);
    if (seen.kind === 'unchanged') return;
    if (seen.kind === 'absent') {
      if (previous === undefined) return;
      this.#known.delete(file);
      if (previous.handoff !== null) {
        this.#sink.remove(previous.handoff.pool_id, previous.handoff.replica_id, file);
        this.#sink.processed('removed', previous.handoff.pool_id, performance.now() - began);
        this.#log.info({ file, pool_id: previous.handoff.pool_id }, 'handoff removed');
      }
      return;
    }
    const handoff = seen.kind === 'read' ? this.#parse(file, seen.text) : this.#ignore(file, seen.reason);
    this.#known.set(file, { identity: seen.identity, handoff });
    if (handoff === null) {
      // A bad file is ignored; if it replaced a good one, that replica is gone too.
      if (previous?.handoff) this.#sink.remove(previous.handoff.pool_id, previous.handoff.replica_id, file);
      this.#sink.processed('invalid', null, performance.now() - began);
      return;
    }
    this.#sink.upsert(handoff, file);
    this.#sink.processed('accepted', handoff.pool_id, performance.now() - began);
  }

  /** Log why a file is ignored. Reasons name the file's kind, size or fields, never its bytes. */
  #ignore(file: string, reason: string): null {
    this.#log.warn({ file, reason }, 'ignoring handoff file');
    return null;
  }

  #parse(file: string, text: string): Handoff | null {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text; the file may be anything, so the reason does not.
      return this.#ignore(file, 'not JSON');
    }
    const checked = validate(HandoffSchema, json);
    if (!checked.ok) return this.#ignore(file, checked.message);
    const expected = handoffFileName(checked.value.pool_id, checked.value.replica_id);
    if (basename(file) !== expected) {
      const { pool_id, replica_id } = checked.value;
      return this.#ignore(file, `a handoff for ${pool_id}/${replica_id} must be named ${expected}`);
    }
    return checked.value;
  }
}
