import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfigOrExit } from './common/config';
import { runMigrationsLocked } from './common/database/migration-runner';
import { typeOrmOptions } from './common/database/typeorm-options';

/**
 * `node dist/migrate.js`: applies pending migrations and exits. Run by each pod's init container in
 * deploy/k8s (the app then starts with DB_MIGRATIONS_RUN=false), without the TypeORM CLI or
 * TypeScript sources in the image.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const dataSource = new DataSource(typeOrmOptions(config.database.url, 2));
  await dataSource.initialize();
  try {
    await runMigrationsLocked(dataSource, {
      log: (message: string) => process.stdout.write(`${message}\n`),
      warn: (message: string) => process.stderr.write(`${message}\n`),
    });
    process.stdout.write('migrations are up to date\n');
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`migration failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
