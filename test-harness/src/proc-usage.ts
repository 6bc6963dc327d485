/** What a process has used, read from /proc: for the benchmarks and the chaos suite, never for a pass or fail. */
import { readFile } from 'node:fs/promises';

/** CPU time (user + system) the process has used so far in ms (/proc/<pid>/stat counts clock ticks of 10 ms). */
export async function cpuMs(pid: number | undefined): Promise<number> {
  const fields = (await readFile(`/proc/${pid ?? 0}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory in MB; NaN once the process is gone. */
export async function rssMb(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid ?? 0}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}
