/**
 * The floor of a Node hop on this machine: CPU per streamed event of a process that only moves bytes from one
 * socket to another (a TCP pipe) or relays an HTTP answer (undici → node:http), against the ~300-byte chunk a
 * source writes every millisecond — llama-server's pace on the demo model. The daemons' CPU per token (the stream
 * tables) is read against it.
 */
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from '../src/free-port.ts';
import { cpuMs } from '../src/proc-usage.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from '../src/processes.ts';
import { percentile } from './stats.ts';

const PROC = fileURLToPath(new URL('./floor-proc.ts', import.meta.url));

export interface FloorResult {
  readonly events: number;
  /** Median over the runs of CPU µs per event, by hop. */
  readonly pipeUs: number;
  readonly relayUs: number;
  readonly sourceUs: number;
  readonly runs: number;
}

/** Start one role of floor-proc.ts and wait until it listens. */
export async function startFloorProcess(args: readonly string[]): Promise<RunningProcess> {
  const proc = startProcess(process.execPath, [PROC, ...args], process.env);
  try {
    await waitFor(`floor ${args[0]}`, () => (proc.output().includes('listening') ? true : undefined), 30_000);
  } catch (error) {
    await stopProcess(proc);
    throw error;
  }
  return proc;
}

/** Read one whole answer; its chunks are counted by the source, not here. */
async function drain(url: string): Promise<void> {
  const answer = await request(url);
  for await (const _ of answer.body) {
    // only read
  }
}

export async function measureFloor(events: number, runs: number): Promise<FloorResult> {
  const [sourcePort, pipePort, relayPort] = [await freePort(), await freePort(), await freePort()];
  const procs: RunningProcess[] = [];
  try {
    const source = await startFloorProcess(['source', String(sourcePort), String(events)]);
    procs.push(source);
    const pipe = await startFloorProcess(['pipe', String(pipePort), String(sourcePort)]);
    procs.push(pipe);
    const relay = await startFloorProcess(['relay', String(relayPort), String(sourcePort)]);
    procs.push(relay);
    const perEvent = { pipe: [] as number[], relay: [] as number[], source: [] as number[] };
    // One warm-up of each, then alternating runs.
    await drain(`http://127.0.0.1:${pipePort}/`);
    await drain(`http://127.0.0.1:${relayPort}/`);
    for (let i = 0; i < runs; i += 1) {
      for (const [hop, proc, port] of [
        ['pipe', pipe, pipePort],
        ['relay', relay, relayPort],
      ] as const) {
        const [hopBefore, sourceBefore] = [await cpuMs(proc.child.pid), await cpuMs(source.child.pid)];
        await drain(`http://127.0.0.1:${port}/`);
        const [hopAfter, sourceAfter] = [await cpuMs(proc.child.pid), await cpuMs(source.child.pid)];
        perEvent[hop].push(((hopAfter - hopBefore) * 1000) / events);
        perEvent.source.push(((sourceAfter - sourceBefore) * 1000) / events);
      }
    }
    return {
      events,
      runs,
      pipeUs: percentile(perEvent.pipe, 50),
      relayUs: percentile(perEvent.relay, 50),
      sourceUs: percentile(perEvent.source, 50),
    };
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
  }
}
