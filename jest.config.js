/**
 * `npm test` runs both projects: unit specs beside the code and e2e specs under test/e2e.
 * The global set-up makes a fresh PostgreSQL database and Redis key prefix for this run and
 * removes them afterwards, so concurrent runs never see each other's data.
 */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
// content-disposition@3 (required by @fastify/static, hence Swagger UI) ships ESM only; Jest's
// CommonJS runtime cannot require it on Node 20, so that one package is transpiled for tests.
const esmOnly = ['content-disposition'];
const shared = {
  testEnvironment: 'node',
  rootDir: __dirname,
  transform: {
    '^.+\\.ts$': tsJest,
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', isolatedModules: true } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
};

/** @type {import('jest').Config} */
module.exports = {
  // Global on purpose: Jest ignores testTimeout inside a project entry.
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  projects: [
    {
      ...shared,
      displayName: 'unit',
      roots: ['<rootDir>/src', '<rootDir>/test'],
      testMatch: ['**/*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.e2e-spec\\.ts$'],
    },
    {
      ...shared,
      displayName: 'e2e',
      roots: ['<rootDir>/test/e2e'],
      testMatch: ['**/*.e2e-spec.ts'],
    },
  ],
};
