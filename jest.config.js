/** Jest runs the TypeScript tests directly; `npm test` type-checks them first (tsconfig.test.json). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  // Refuses MESHD_UPDATE_GOLDEN=1 under CI, and tests of the built meshd while dist/ is older than src/.
  globalSetup: '<rootDir>/test/global-setup.ts',
  // Real Envoy processes and fixed proxy ports: one test file at a time.
  maxWorkers: 1,
  testTimeout: 60000,
};
