import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const CLI = fileURLToPath(new URL('../bin/llorch.js', import.meta.url));

function llorch(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('llorch', () => {
  test('says plainly that the HOME profile is not built yet and exits 3', () => {
    const run = llorch('home');
    assert.equal(run.status, 3);
    assert.match(run.stderr, /not built yet/);
  });

  test('prints usage for --help and exits 0', () => {
    const run = llorch('--help');
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^llorch — operator CLI/);
  });

  test('rejects an unknown command with exit code 2 and names it', () => {
    const run = llorch('serve');
    assert.equal(run.status, 2);
    assert.match(run.stderr, /unknown command "serve"/);
  });
});
