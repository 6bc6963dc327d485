/**
 * The last line of cleanup: when a run dies (an uncaught error, process.exit, SIGINT/SIGTERM) with a cluster still
 * up, the registered synchronous cleanups remove its processes, namespaces and bridge. A cluster's own stop()
 * unregisters its cleanup.
 */
const cleanups = new Map<number, () => void>();
let next = 0;
let installed = false;

function runAll(): void {
  for (const [key, cleanup] of [...cleanups]) {
    cleanups.delete(key);
    cleanup();
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      runAll();
      process.off(signal, onSignal);
      process.kill(process.pid, signal); // then die of the signal as we would have without this guard
    };
    process.on(signal, onSignal);
  }
}

/** Register a synchronous cleanup to run if the process exits first; the answer unregisters it. */
export function onExit(cleanup: () => void): () => void {
  install();
  const key = (next += 1);
  cleanups.set(key, cleanup);
  return () => {
    cleanups.delete(key);
  };
}
