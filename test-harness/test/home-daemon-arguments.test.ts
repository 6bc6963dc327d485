import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ORCHESTRATORD_CLI } from '../src/orchestratord-process.ts';
import { POOL_MANAGERD_CLI } from '../src/pool-managerd-process.ts';
import { startProcess, stopProcess, waitFor } from '../src/processes.ts';

const DAEMONS = [
  ['pool-managerd', POOL_MANAGERD_CLI],
  ['orchestratord', ORCHESTRATORD_CLI],
] as const;

/** Run a daemon with these arguments on free ports; one that starts instead of answering is stopped and fails. */
async function run(script: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const proc = startProcess(process.execPath, [script, ...args], {
    ...process.env,
    POOL_MANAGERD_BIND_ADDR: '127.0.0.1:0',
    ORCHD_BIND_ADDR: '127.0.0.1:0',
    LLORCH_CONFIG: undefined,
  });
  let code: number | null | undefined;
  void proc.exited.then((c) => (code = c));
  try {
    await waitFor(`${args.join(' ')} to answer and exit`, () => (code === undefined ? undefined : true), 20_000);
  } finally {
    await stopProcess(proc);
  }
  return { code: code ?? null, output: proc.output() };
}

describe('the daemons’ command line', { timeout: 3 * 60_000 }, () => {
  for (const [name, script] of DAEMONS) {
    test(`${name} --help prints its usage and exits instead of starting; extra arguments are refused`, async () => {
      const help = await run(script, ['--help']);
      assert.equal(help.code, 0, help.output);
      assert.match(help.output, new RegExp(`^${name} — `));
      assert.match(help.output, new RegExp(`Usage: ${name} \\[--help \\| --version\\]`));
      assert.doesNotMatch(help.output, /listening/);

      assert.equal((await run(script, ['-h'])).code, 0);
      const version = await run(script, ['--version']);
      assert.equal(version.code, 0);
      assert.match(version.output, /^\d+\.\d+\.\d+\n$/);

      const stray = await run(script, ['start']);
      assert.equal(stray.code, 2, stray.output);
      assert.match(stray.output, new RegExp(`^${name}: Unexpected argument 'start'`));
      assert.match(stray.output, /Usage: /);
      const unknown = await run(script, ['--port', '9999']);
      assert.equal(unknown.code, 2, unknown.output);
      assert.match(unknown.output, new RegExp(`^${name}: Unknown option '--port'`));
      assert.doesNotMatch(stray.output + unknown.output, /listening/);
    });
  }
});
