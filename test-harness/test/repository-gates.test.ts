import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(fileURLToPath(new URL(path, ROOT)), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>;
  engines: { node: string };
  devDependencies: Record<string, string>;
  workspaces: string[];
};

describe('repository gates', () => {
  test('runs typecheck, lint, formatting and the dependency check before the tests', () => {
    const steps = pkg.scripts['test']?.split('&&').map((step) => step.trim());
    assert.deepEqual(steps, [
      'npm run typecheck',
      'npm run lint',
      'npm run format:check',
      'npm run depcheck',
      'npm run test:unit',
    ]);
    assert.match(pkg.scripts['lint'] ?? '', /--max-warnings 0/);
    assert.match(pkg.scripts['format:check'] ?? '', /prettier --check/);
  });

  test('pins Node 24 as a dev dependency and accepts the Node versions the dependencies need, with types stripped', () => {
    assert.match(pkg.devDependencies['node'] ?? '', /^\^?24\./);
    assert.equal(pkg.engines.node, '^22.22.0 || >=24');
    assert.deepEqual(pkg.workspaces, ['libs/*', 'bin/*', 'test-harness']);
  });

  test('has CI run the test command that the README gives, then only the test suites issues add', () => {
    const readme = read('README.md');
    assert.ok(readme.includes('npm ci && npm test'), 'README gives the test command');
    assert.ok(readme.includes('npm ci && npm start'), 'README gives the start command');
    const ci = read('.ci/run')
      .split('\n')
      .filter((line) => line.trim() !== '' && !/^(#|set |cd )/.test(line));
    assert.equal(ci.length, 1, 'one command line');
    const [first, ...suites] = (ci[0] ?? '').split(' && npm run ');
    assert.equal(first, 'npm ci && npm test', 'the README test command comes first');
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const suite of suites) {
      assert.match(suite, /^test:[a-z]+$/, 'each further suite is an npm test:* script');
      assert.ok(scripts[suite], `package.json defines ${suite}`);
      assert.ok(readme.includes(`npm run ${suite}`), `README names ${suite}`);
    }
  });

  test('keeps tsconfig strict with unchecked index access and exact optional properties', () => {
    const options = (JSON.parse(read('tsconfig.json')) as { compilerOptions: Record<string, unknown> }).compilerOptions;
    assert.equal(options['strict'], true);
    assert.equal(options['noUncheckedIndexedAccess'], true);
    assert.equal(options['exactOptionalPropertyTypes'], true);
  });
});
