/**
 * Run inside a node's network namespace (its engines listen on that namespace's loopback): every 100 ms, ask each
 * engine named by a handoff file in `<dir>` how many requests it holds (processing + deferred, its own /metrics),
 * and print a JSON line `{"file":"a-r0.json","held":2}` each time the count of a file's engine changes. An engine
 * restarted on a new port is found again through its rewritten handoff. Stops on SIGTERM.
 *
 *   ip netns exec <ns> node test-harness/chaos/engine-sampler.ts <runtime dir>/engines
 */
import { join } from 'node:path';
import { engineRequestsHeld } from '../src/engine-load.ts';
import { handoffsIn, readHandoff } from '../src/provisioner-cli.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: engine-sampler.ts <handoff dir>');
const last = new Map<string, number>();
let running = true;
process.once('SIGTERM', () => (running = false));

while (running) {
  for (const file of await handoffsIn(dir)) {
    const handoff = await readHandoff(join(dir, file)).catch(() => undefined);
    const held = handoff === undefined ? null : await engineRequestsHeld(handoff.url, 300);
    if (held !== null && held !== last.get(file)) {
      last.set(file, held);
      process.stdout.write(`${JSON.stringify({ file, held })}\n`);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
