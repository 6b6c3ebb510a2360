/** Tests run through @swc/jest (type-checking is `tsc --noEmit`, a separate step). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  snapshotFormat: { printBasicPrototype: false },
  // Everything the tests write to the temporary directory is removed after the run.
  globalSetup: '<rootDir>/test/support/tmpdir-setup.js',
  globalTeardown: '<rootDir>/test/support/tmpdir-teardown.js',
  // Two cores, one worker each; a worker past 200 MB after a file is replaced, so none reaches the 500 MB budget.
  maxWorkers: 2,
  workerIdleMemoryLimit: '200MB',
};
