/** Tests run through @swc/jest (type-checking is `tsc --noEmit`, a separate step). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  snapshotFormat: { printBasicPrototype: false },
  // Two cores: one worker per core keeps every process well under the 500 MB budget.
  maxWorkers: 2,
  workerIdleMemoryLimit: '450MB',
};
