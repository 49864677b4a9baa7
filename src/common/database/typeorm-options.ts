import type { DataSourceOptions } from 'typeorm';
import { migrations } from './migrations';

/**
 * TypeORM options shared by the app (`DatabaseModule`) and the CLI (`ormconfig.ts`).
 * `synchronize` is off everywhere, tests included: the schema only changes through migrations.
 */
export function typeOrmOptions(url: string, poolSize = 20): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrationsRun: false, // run by MigrationRunner under an advisory lock, see migration-runner.ts
    migrations,
    // Each migration in its own transaction, and none for one that says so (CREATE INDEX CONCURRENTLY).
    migrationsTransactionMode: 'each',
    migrationsTableName: 'typeorm_migrations',
    // TypeORM would CREATE EXTENSION "uuid-ossp" at every start (the entities' generated uuid
    // columns): a schema change outside the migrations, refused to a role without the privilege.
    // The tables' ids default to gen_random_uuid(), built into PostgreSQL 13 and later.
    installExtensions: false,
    // Fail fast instead of queueing forever when PostgreSQL is down or the pool is exhausted.
    connectTimeoutMS: 2000,
    extra: {
      max: poolSize,
      connectionTimeoutMillis: 2000,
      idleTimeoutMillis: 30_000,
      statement_timeout: 15_000,
      query_timeout: 16_000,
      application_name: 'runtime-api',
    },
  };
}
