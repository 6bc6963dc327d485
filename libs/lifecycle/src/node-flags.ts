/**
 * Node's command-line flags for the daemons, wherever they are started (llorch, the systemd units, the images'
 * NODE_OPTIONS, the test harness). V8 grows each young-generation semi-space to 16 MiB under load and never gives
 * the pages back; 2 MiB holds orchestratord with 10,000 tasks queued to 149 MB resident instead of 206 MB, with no
 * loss of admission throughput (test-harness/bench/RESULTS.md). V8 reads it only at start: setting it at run time
 * does nothing.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
