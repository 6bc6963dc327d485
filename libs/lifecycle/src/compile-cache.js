// Imported first by the daemons' and llorch's bin scripts, before any TypeScript loads.
//
// Node's compile cache keeps each module's type-stripped source and V8 code: a later start skips loading the type
// stripper (a WebAssembly module of about 17 MB resident) and re-stripping every file. Measured on orchestratord:
// idle RSS 140 -> 111 MB (test-harness/bench/RESULTS.md). The cache lives with llama-orch's others; NODE_COMPILE_CACHE,
// Node's own switch, wins when set. A directory that cannot be made (a container user without a home) leaves the
// cache off: the daemon starts as it would have.
import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';

if (process.env.NODE_COMPILE_CACHE === undefined) {
  try {
    enableCompileCache(
      join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'llama-orch', 'node-compile-cache'),
    );
  } catch {
    // Off, as above.
  }
}
