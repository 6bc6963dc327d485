/**
 * For the HOME stop-path tests: every process a test's root process ever started, remembered by pid and start
 * time, also after it was orphaned (re-parented to init) — the very thing those tests look for. Only these
 * processes are ever signalled by the tests (never by name).
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Seen {
  readonly pid: number;
  readonly start: string;
  readonly cmd: string;
}

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  readonly state: string;
  readonly start: string;
}

function stat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0] ?? '?', ppid: Number(fields[1]), start: fields[19] ?? '' };
  } catch {
    return null;
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
};

export class ProcessTree {
  /** By pid; the command line is read again while it runs (a child caught between fork and exec shows its parent's). */
  readonly #seen = new Map<number, Seen>();
  readonly #timer: NodeJS.Timeout;

  /** Watch `root` and its descendants, every 25 ms until `close()`. */
  constructor(root: number) {
    const first = stat(root);
    if (first !== null) this.#seen.set(root, { pid: root, start: first.start, cmd: cmdline(root) });
    this.#timer = setInterval(() => this.scan(), 25);
  }

  scan(): void {
    for (const seen of this.#seen.values()) {
      const cmd = stat(seen.pid)?.start === seen.start ? cmdline(seen.pid) : '';
      if (cmd !== '' && cmd !== seen.cmd) this.#seen.set(seen.pid, { ...seen, cmd });
    }
    const all = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map((name) => stat(Number(name)))
      .filter((s): s is Stat => s !== null);
    for (let grew = true; grew;) {
      grew = false;
      for (const s of all) {
        if (this.#seen.has(s.pid) || !this.#isOurs(s.ppid)) continue;
        this.#seen.set(s.pid, { pid: s.pid, start: s.start, cmd: cmdline(s.pid) });
        grew = true;
      }
    }
  }

  #isOurs(pid: number): boolean {
    const seen = this.#seen.get(pid);
    return seen !== undefined && stat(pid)?.start === seen.start;
  }

  /** Those still running (zombies are not): `pid command`. */
  running(): string[] {
    return [...this.#seen.values()]
      .filter((p) => {
        const now = stat(p.pid);
        return now !== null && now.start === p.start && now.state !== 'Z';
      })
      .map((p) => `${p.pid} ${p.cmd.slice(0, 120)}`);
  }

  /** The pids still running whose whole command line has `what` in it (never a shortened one: CI's paths are long). */
  runningPids(what: string): number[] {
    return [...this.#seen.values()]
      .filter((p) => {
        const now = stat(p.pid);
        return p.cmd.includes(what) && now !== null && now.start === p.start && now.state !== 'Z';
      })
      .map((p) => p.pid);
  }

  /** The llama-server processes seen so far. */
  engines(): number[] {
    return [...this.#seen.values()].filter((p) => p.cmd.includes('llama-server')).map((p) => p.pid);
  }

  has(what: string): boolean {
    return [...this.#seen.values()].some((p) => p.cmd.includes(what));
  }

  /** The command line of the first process seen whose command has `what` in it. */
  commandOf(what: string): string | undefined {
    return [...this.#seen.values()].find((p) => p.cmd.includes(what))?.cmd;
  }

  pidOf(what: string): number | undefined {
    return [...this.#seen.values()].find((p) => p.cmd.includes(what))?.pid;
  }

  /** SIGKILL whatever of ours still runs (a failed test's leftovers), and stop watching. */
  close(): void {
    clearInterval(this.#timer);
    for (const line of this.running()) {
      try {
        process.kill(Number(line.split(' ')[0]), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}
