import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectConfig, type AppConfig } from '../config';

/** Arbitrary constant shared by every replica: the key of the migrations advisory lock. */
const MIGRATIONS_LOCK_KEY = 724_311_001;

/**
 * Applies pending migrations at start-up (unless DB_MIGRATIONS_RUN=false). Replicas that start
 * together serialize on a PostgreSQL advisory lock, so exactly one applies each migration.
 */
@Injectable()
export class MigrationRunner implements OnModuleInit {
  private readonly logger = new Logger('Migrations');

  constructor(
    private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.database.migrationsRun) return;
    await runMigrationsLocked(this.dataSource, this.logger);
  }
}

export async function runMigrationsLocked(dataSource: DataSource, logger?: Pick<Logger, 'log'>): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATIONS_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    if (applied.length > 0) logger?.log(`applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}
