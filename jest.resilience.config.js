/**
 * `npm run test:resilience`: the resilience and abuse suite (test/resilience). It spawns real
 * server processes, a throwaway Redis and PostgreSQL cluster, and sends real signals, so it is kept
 * apart from `npm test`. Same global set-up: a fresh migrated database and Redis key prefix per run.
 */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/test/resilience'],
  testMatch: ['**/*.resilience-spec.ts'],
  transform: { '^.+\\.ts$': tsJest },
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  // Every file spawns its own servers; two at a time fits a 2-core machine and the 10-minute budget.
  maxWorkers: 2,
  testTimeout: 120_000,
  // The soak runs SOAK_SECONDS (default 180) plus warm-up; the default above would cut it short.
  slowTestThreshold: 60,
};
