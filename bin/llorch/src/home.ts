/**
 * The HOME profile. Until engine-provisioner, pool-managerd and orchestratord exist (issues 3–6), this says
 * so plainly and exits non-zero instead of pretending to serve.
 */
export const HOME_NOT_BUILT_EXIT_CODE = 3;

export function home(): number {
  process.stderr.write(
    [
      'llorch home: the HOME profile is not built yet.',
      'What exists today: libs/contracts (every wire shape and the OpenAPI documents) and libs/config (the pool YAML).',
      'Still to come: engine-provisioner (build llama.cpp, fetch models), pool-managerd, orchestratord, then `llorch home`.',
      'Run `npm test` to check the foundation.',
      '',
    ].join('\n'),
  );
  return HOME_NOT_BUILT_EXIT_CODE;
}
