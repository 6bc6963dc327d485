/**
 * The HOME profile. Until engine-provisioner, pool-managerd and orchestratord exist (issues 3–6), this says
 * so plainly and exits non-zero instead of pretending to serve.
 */
export const HOME_NOT_BUILT_EXIT_CODE = 3;

export function home(): number {
  process.stderr.write(
    [
      'llorch home: the HOME profile is not built yet.',
      'Until it is, the same setup is two commands:',
      '  LLORCH_CONFIG=<pools.yaml> npx pool-managerd',
      '  ORCHD_POOL_MANAGERS=http://127.0.0.1:9200 npx orchestratord',
      'Still to come: `llorch home` running both with the demo pool by default (issue 6).',
      'Run `npm test` to check the foundation.',
      '',
    ].join('\n'),
  );
  return HOME_NOT_BUILT_EXIT_CODE;
}
