/**
 * The HOME profile. Until engine-provisioner, pool-managerd and orchestratord exist (issues 3–6), this says
 * so plainly and exits non-zero instead of pretending to serve.
 */
export const HOME_NOT_BUILT_EXIT_CODE = 3;

export function home(): number {
  process.stderr.write(
    [
      'llorch home: the HOME profile is not built yet.',
      'What exists today: engine-provisioner, which builds llama.cpp and runs engines for a pool config:',
      '  npx engine-provisioner up --config <pools.yaml>',
      'Still to come: pool-managerd, orchestratord, then `llorch home` with its OpenAI-compatible endpoint.',
      'Run `npm test` to check the foundation.',
      '',
    ].join('\n'),
  );
  return HOME_NOT_BUILT_EXIT_CODE;
}
