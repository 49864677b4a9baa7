// `node scripts/bundle.mjs [dir]` (run by `npm run build` after `nest build`): rewrites <dir>/main.js
// (default dist) as one bundled file holding the server and most of its dependencies.
//
// Why: Node 20 loads ≈ 1,900 CommonJS files at start-up, and a third of that time went to resolving
// them (stat calls, package.json reads), not to running them (bench/results.md, "Session 7"); one
// file removes the resolving. The per-file output stays beside it for the CLI and the migration
// command (dist/cli.js, dist/migrate.js), which are not bundled. esbuild wraps every CommonJS
// module in its own function, so names, load order and lazy `require`s behave as before.
//
// Left outside the bundle, each for a reason:
// - LangChain's packages: loaded on a process's first agent run, not at start-up (agent-runner.ts),
//   and kept as the single copy of @langchain/core the tree has; zod with them, since the agent's
//   tool schemas (ours) and LangChain must share one zod.
// - Packages that find files next to their own code at run time: swagger-ui-dist (the /api/docs
//   assets), ioredis (its package.json), pino (worker files of transports).
// - @node-rs/argon2: a native addon, loaded from its platform package.
// - Optional peers of Nest and TypeORM this app does not install (microservices, websockets,
//   Express, other ORMs): required inside try/catch, which stays as it is.
// tests: test/e2e/production-build.e2e-spec.ts builds and bundles, then drives the bundled server.
import { build } from 'esbuild';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'dist';
const main = join(dir, 'main.js');

await build({
  entryPoints: [main],
  outfile: main,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // No `keepNames`: it re-defines `name` on every function when the function is created, closures
  // made per request included, and that cost /health 40 % more CPU per request (paired A/B against
  // the per-file build, 69 vs 49 µs). Classes and functions keep their names anyway: identifiers
  // are not minified, and each CommonJS module keeps its own scope.
  minifyWhitespace: true,
  minifySyntax: true,
  // Chained to tsc's maps: `node --enable-source-maps dist/main.js` prints TypeScript positions.
  sourcemap: true,
  logLevel: 'warning',
  external: [
    'langchain',
    '@langchain/*',
    'langsmith',
    'zod',
    'zod/*',
    'swagger-ui-dist',
    'ioredis',
    'pino',
    '@node-rs/argon2',
    '@nestjs/microservices',
    '@nestjs/microservices/*',
    '@nestjs/websockets/*',
    '@nestjs/platform-express',
    '@nestjs/mongoose',
    '@nestjs/sequelize/*',
    '@mikro-orm/core',
    '@fastify/view',
    'class-transformer/storage',
  ],
});
