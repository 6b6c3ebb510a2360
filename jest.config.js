/** Tests run through @swc/jest (type-checking is `tsc --noEmit`, a separate step). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  snapshotFormat: { printBasicPrototype: false },
  // Two cores, one worker each; a worker past 300 MB after a file is replaced, so none reaches the 500 MB budget.
  maxWorkers: 2,
  workerIdleMemoryLimit: '300MB',
};
