import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, MigrationExecutor, type QueryRunner } from 'typeorm';
import { InjectConfig, type AppConfig } from '../config';
import { sqlStateOf } from './unique-violation';

/** Arbitrary constant shared by every replica: the key of the migrations advisory lock. */
const MIGRATIONS_LOCK_KEY = 724_311_001;
/** How often a replica waiting for another's migrations asks for the lock again. */
const LOCK_POLL_MS = 250;
/**
 * How long a migration's statement may wait for a table lock. A DDL statement queued behind a
 * long transaction (a report, a backup) holds up every query on its table while it waits: with
 * only the 15 s statement timeout, each try stalled the table's traffic for 15 s. Past this, the
 * migration is rolled back and tried again a little later.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 3_000;
/** Tries of a migration whose lock waits time out, and the pause before the next (doubling, capped). */
const LOCK_TIMEOUT_TRIES = 8;
const LOCK_TIMEOUT_RETRY_MS = 1_000;
const LOCK_TIMEOUT_RETRY_MAX_MS = 15_000;

/**
 * Applies pending migrations at start-up (unless DB_MIGRATIONS_RUN=false, where the init
 * container has applied them: then it only checks that none is pending). Replicas that start
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
    if (this.config.database.migrationsRun) {
      await runMigrationsLocked(this.dataSource, this.logger);
      return;
    }
    // A schema older than this code (an init container that did not run, a restored backup)
    // would pass the readiness probe and answer 500 on the routes that touch what is missing.
    const pending = await new MigrationExecutor(this.dataSource).getPendingMigrations();
    if (pending.length > 0) {
      throw new Error(
        `the database lacks ${pending.length} migration(s) this version needs (${pending.map((m) => m.name).join(', ')}): ` +
          'run `node dist/migrate.js` (or start with DB_MIGRATIONS_RUN=true)',
      );
    }
  }
}

/**
 * Applies pending migrations, one transaction each, on the connection that holds the migrations
 * lock: the lock cannot be lost while another connection migrates, and a pool of one suffices.
 */
export async function runMigrationsLocked(dataSource: DataSource, logger?: Pick<Logger, 'log' | 'warn'>): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await acquireMigrationsLock(runner, logger);
    await runner.query(`SET lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
    const applied = await applyPending(dataSource, runner, logger);
    if (applied.length > 0) logger?.log(`applied ${applied.length} migration(s): ${applied.join(', ')}`);
  } finally {
    await runner.query('RESET lock_timeout').catch(() => undefined);
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}

async function applyPending(dataSource: DataSource, runner: QueryRunner, logger?: Pick<Logger, 'warn'>): Promise<string[]> {
  const applied: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    try {
      applied.push(...(await executor.executePendingMigrations()).map((m) => m.name));
      return applied;
    } catch (error) {
      // 55P03 lock_not_available: a lock wait passed lock_timeout. What was applied before stays
      // applied (a transaction each); the failed one was rolled back and is tried again.
      if (sqlStateOf(error) !== '55P03' || attempt >= LOCK_TIMEOUT_TRIES) throw error;
      const pauseMs = Math.min(LOCK_TIMEOUT_RETRY_MS * 2 ** (attempt - 1), LOCK_TIMEOUT_RETRY_MAX_MS);
      logger?.warn(
        `a migration waited more than ${MIGRATION_LOCK_TIMEOUT_MS} ms for a table lock (a long transaction holds it); ` +
          `trying again in ${pauseMs} ms (${attempt} of ${LOCK_TIMEOUT_TRIES})`,
      );
      await sleep(pauseMs);
    }
  }
}

/**
 * Takes the lock by asking again every LOCK_POLL_MS rather than by one blocking
 * `pg_advisory_lock`: a statement waiting for the lock holds a snapshot, and CREATE INDEX
 * CONCURRENTLY in the holder's migrations waits for every such snapshot to end, while the holder
 * keeps the lock until its migrations are done: the two replicas waited for each other until the
 * statement timeout (15 s) failed the waiting one's start-up (seen in CI: two replicas started
 * together on an empty database). Short polls also let a replica wait out migrations longer than
 * the statement timeout.
 */
async function acquireMigrationsLock(runner: QueryRunner, logger?: Pick<Logger, 'log'>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const [row] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATIONS_LOCK_KEY])) as { locked: boolean }[];
    if (row?.locked) return;
    if (attempt === 0) logger?.log('waiting for another replica to finish applying migrations');
    await sleep(LOCK_POLL_MS);
  }
}
