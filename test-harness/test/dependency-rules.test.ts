import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';

const require = createRequire(import.meta.url);
const config = require('../../.dependency-cruiser.cjs') as IConfiguration;
const fixture = fileURLToPath(new URL('../fixtures/dependency-violations', import.meta.url));

async function violationsIn(baseDir: string): Promise<string[]> {
  const reported = await cruise(['bin', 'libs'], {
    ruleSet: { forbidden: config.forbidden ?? [] },
    baseDir,
    validate: true,
    outputType: 'json',
  });
  const output = JSON.parse(reported.output as string) as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

describe('dependency rules', () => {
  test('catch a bin importing another bin, a lib importing a bin, contracts importing a lib and an import cycle', async () => {
    const violations = await violationsIn(fixture);
    assert.deepEqual(violations, [
      'contracts-is-the-bottom: libs/contracts/src/index.js → libs/engine-client/src/index.js',
      'no-bin-to-other-bin: bin/alpha/src/main.js → bin/beta/src/beta.js',
      'no-circular: libs/cyc/src/a.js → libs/cyc/src/b.js',
      'no-lib-to-bin: libs/engine-client/src/index.js → bin/beta/src/beta.js',
    ]);
  });
});
