/** Dependency direction of llama-orch (ARCHITECTURE §2): bin/* → libs/* → libs/contracts; no cycles. */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make start-up order and testing fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-bin-to-other-bin',
      severity: 'error',
      comment: 'Bins talk over HTTP with types from libs/contracts; they never import each other.',
      from: { path: '^bin/([^/]+)/' },
      to: { path: '^bin/([^/]+)/', pathNot: '^bin/$1/' },
    },
    {
      name: 'no-lib-to-bin',
      severity: 'error',
      comment: 'libs are below bins.',
      from: { path: '^libs/' },
      to: { path: '^bin/' },
    },
    {
      name: 'contracts-is-the-bottom',
      severity: 'error',
      comment: 'libs/contracts depends on nothing else of ours.',
      from: { path: '^libs/contracts/' },
      to: { path: '^(libs/(?!contracts/)|bin/|test-harness/)' },
    },
    {
      name: 'no-product-to-test-harness',
      severity: 'error',
      comment: 'The product never imports the test harness; the harness starts bins as processes.',
      from: { path: '^(bin|libs)/' },
      to: { path: '^test-harness/' },
    },
    {
      name: 'harness-starts-bins-as-processes',
      severity: 'error',
      comment: "test-harness may import libs, never a bin's source.",
      from: { path: '^test-harness/' },
      to: { path: '^bin/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)fixtures/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
