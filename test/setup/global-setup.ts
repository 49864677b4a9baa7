import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ensureDatabase } from '../../src/common/database/ensure-database';
import { runMigrationsLocked } from '../../src/common/database/migration-runner';
import { typeOrmOptions } from '../../src/common/database/typeorm-options';
import { newTestEnv } from './test-env';

/**
 * Creates this run's own database (migrated once, so parallel test files never race on DDL)
 * and Redis key prefix. Jest workers inherit the variables set here.
 */
export default async function globalSetup(): Promise<void> {
  const env = newTestEnv(process.env);
  Object.assign(process.env, env, { NODE_ENV: 'test', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', DB_MIGRATIONS_RUN: 'false' });
  await ensureDatabase(env.DATABASE_URL);
  const dataSource = new DataSource(typeOrmOptions(env.DATABASE_URL, 2));
  await dataSource.initialize();
  try {
    await runMigrationsLocked(dataSource);
  } finally {
    await dataSource.destroy();
  }
}
