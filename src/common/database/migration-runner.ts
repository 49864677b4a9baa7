import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { InjectConfig, type AppConfig } from '../config';

/** Arbitrary constant shared by every replica: the key of the migrations advisory lock. */
const MIGRATIONS_LOCK_KEY = 724_311_001;
/** How often a replica waiting for another's migrations asks for the lock again. */
const LOCK_POLL_MS = 250;

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
    await acquireMigrationsLock(runner.query.bind(runner), logger);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    if (applied.length > 0) logger?.log(`applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}

/**
 * Takes the lock by asking again every LOCK_POLL_MS rather than by one blocking
 * `pg_advisory_lock`: a statement waiting for the lock holds a snapshot, and CREATE INDEX
 * CONCURRENTLY in the holder's migrations waits for every such snapshot to end. The holder builds
 * on another pooled connection than the one holding the lock, so PostgreSQL sees no deadlock and
 * the two replicas waited for each other until the statement timeout (15 s) failed the waiting
 * one's start-up (seen in CI: two replicas started together on an empty database). Short polls
 * also let a replica wait out migrations longer than the statement timeout.
 */
async function acquireMigrationsLock(
  query: (sql: string, parameters: unknown[]) => Promise<{ locked: boolean }[]>,
  logger?: Pick<Logger, 'log'>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const [row] = await query('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATIONS_LOCK_KEY]);
    if (row?.locked) return;
    if (attempt === 0) logger?.log('waiting for another replica to finish applying migrations');
    await sleep(LOCK_POLL_MS);
  }
}
