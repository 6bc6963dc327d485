/**
 * Hooks of the distributed suite: the shared engine is built before the first scenario; a scenario that cannot run
 * here (no root, no `ip`) is skipped with its reason printed, never passed; every scenario's cluster is stopped
 * after it, pass or fail, with the daemons' logs attached when it failed (under the compose target the stack stays:
 * only the tasks the scenario left running are canceled).
 */
import { After, Before, BeforeAll, Status, setDefaultTimeout, setWorldConstructor } from '@cucumber/cucumber';
import { testEngine } from '../../../src/engine-fixture.ts';
import { jsonRequest } from '../../../src/http-json.ts';
import { netnsUnavailable } from '../../../src/netns/index.ts';
import { composeTarget } from './compose-target.ts';
import { ClusterWorld } from './world.ts';

setWorldConstructor(ClusterWorld);
/** One step's budget unless it names its own: a cluster start with its engines, on 2 cores, fits. */
setDefaultTimeout(240_000);

/** The last part of a daemon's log that a failure report carries. */
const LOG_TAIL_CHARS = 20_000;
const tail = (text: string): string => (text.length > LOG_TAIL_CHARS ? `…${text.slice(-LOG_TAIL_CHARS)}` : text);

let unavailable: Promise<string | null> | null = null;

/** The llama.cpp build (once per machine, minutes) is not a scenario's cost. */
BeforeAll({ timeout: 45 * 60_000 }, async function () {
  // The compose stack brings its own engines and needs no namespaces.
  unavailable = composeTarget ? Promise.resolve(null) : netnsUnavailable();
  if (!composeTarget && (await unavailable) === null) await testEngine();
});

Before(async function (this: ClusterWorld, { pickle }) {
  this.skipReason = await (unavailable ??= netnsUnavailable());
  if (this.skipReason === null) return undefined;
  this.log(`skipped: ${this.skipReason}`);
  process.stderr.write(`# skipped "${pickle.name}": ${this.skipReason}\n`);
  return 'skipped';
});

After({ timeout: 120_000 }, async function (this: ClusterWorld, { result }) {
  const cluster = this.cluster;
  if (cluster === undefined) return;
  if (composeTarget) {
    // The stack outlives the scenario: what it left running is canceled so the next one finds it idle.
    const open = [...this.tasks].filter(([, r]) => !r.events.some((e) => e.event === 'end' || e.event === 'error'));
    await Promise.allSettled(
      open.map(([id]) =>
        jsonRequest(`${cluster.url}/v2/tasks/${this.wireId(id)}/cancel`, {
          method: 'POST',
          headers: cluster.auth,
          timeoutMs: 10_000,
        }),
      ),
    );
    this.cluster = undefined;
    return;
  }
  try {
    if (result?.status === Status.FAILED) {
      for (const node of cluster.nodes)
        this.attach(tail(node.logs()), { mediaType: 'text/plain', fileName: `pool-managerd-${node.id}.log` });
      for (const [i, replica] of cluster.orchestrators.entries())
        this.attach(tail(replica.logs()), { mediaType: 'text/plain', fileName: `orchestratord-${i}.log` });
    }
  } finally {
    await cluster.stop();
    this.cluster = undefined;
  }
});
