import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dropDatabase, ensureDatabase } from '../../src/common/database/ensure-database';
import type { AppConfig } from '../../src/common/config';
import { MigrationRunner, runMigrationsLocked } from '../../src/common/database/migration-runner';
import { migrations } from '../../src/common/database/migrations';
import { RunTimeoutIsFailed1795487300000 } from '../../src/common/database/migrations/1795487300000-RunTimeoutIsFailed';
import { HousekeepingIndexes1795487400000 } from '../../src/common/database/migrations/1795487400000-HousekeepingIndexes';
import { ChatSessionsUpdatedAtMillis1795487500000 } from '../../src/common/database/migrations/1795487500000-ChatSessionsUpdatedAtMillis';
import { typeOrmOptions } from '../../src/common/database/typeorm-options';
import { eventually } from './support/http';
import { createTestApp } from './support/test-app';

/** Data migrations, each on a scratch database of its own (the run's database is shared by every test file). */
describe('migrations', () => {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `${url.pathname}_mig_${randomUUID().slice(0, 8)}`;
  let db: DataSource;

  beforeAll(async () => {
    await ensureDatabase(url.toString());
    db = new DataSource(typeOrmOptions(url.toString(), 2));
    await db.initialize();
    await db.runMigrations({ transaction: 'each' });
  });
  afterAll(async () => {
    await db?.destroy();
    await dropDatabase(url.toString());
  });

  /** Reverts `migration` and every later one. */
  const revertThrough = async (migration: unknown): Promise<void> => {
    const list = migrations as unknown[];
    const at = list.indexOf(migration);
    expect(at).toBeGreaterThanOrEqual(0);
    for (let i = list.length - at; i > 0; i--) await db.undoLastMigration({ transaction: 'each' });
  };

  it('RunTimeoutIsFailed: timed-out runs become failed (model_timeout), timed_out is no longer a status; down restores both', async () => {
    await revertThrough(RunTimeoutIsFailed1795487300000); // back to the schema before it
    const user = randomUUID();
    const session = randomUUID();
    const [timedOut, failed, succeeded] = [randomUUID(), randomUUID(), randomUUID()];
    await db.query(`INSERT INTO users (id, username, email, password_hash) VALUES ($1, 'mig_user', 'mig@example.test', 'h')`, [user]);
    await db.query(`INSERT INTO agent_chat_sessions (id, user_id, title) VALUES ($1, $2, 't')`, [session, user]);
    const run = (id: string, status: string, errorCode: string | null) =>
      db.query(
        `INSERT INTO agent_chat_runs (id, session_id, user_id, status, provider, model, error_code) VALUES ($1, $2, $3, $4, 'p', 'm', $5)`,
        [id, session, user, status, errorCode],
      );
    await run(timedOut, 'timed_out', 'model_timeout');
    await run(failed, 'failed', 'model_error');
    await run(succeeded, 'succeeded', null);
    const statuses = async () =>
      Object.fromEntries(
        (await db.query<{ id: string; status: string }[]>(`SELECT id, status FROM agent_chat_runs`)).map((r) => [r.id, r.status]),
      );

    await db.runMigrations({ transaction: 'each' });
    expect(await statuses()).toEqual({ [timedOut]: 'failed', [failed]: 'failed', [succeeded]: 'succeeded' });
    await expect(run(randomUUID(), 'timed_out', 'model_timeout')).rejects.toThrow(/ck_agent_chat_runs_status/);

    await revertThrough(RunTimeoutIsFailed1795487300000);
    expect(await statuses()).toEqual({ [timedOut]: 'timed_out', [failed]: 'failed', [succeeded]: 'succeeded' });
    await db.runMigrations({ transaction: 'each' });
    expect(await statuses()).toEqual({ [timedOut]: 'failed', [failed]: 'failed', [succeeded]: 'succeeded' });
  });

  it('HousekeepingIndexes: builds its indexes valid (CONCURRENTLY), down restores the partial user index, and the pool keeps its statement timeout', async () => {
    const indexes = async (): Promise<Record<string, boolean>> =>
      Object.fromEntries(
        (
          await db.query<{ name: string; valid: boolean }[]>(
            `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE c.relname IN ('ix_auth_sessions_user', 'ix_auth_sessions_user_id', 'ix_auth_sessions_expires_at', 'ix_pending_signups_consumed_at',
                                  'ix_pending_signups_open_expiry', 'ix_mail_outbox_settled', 'ix_mail_outbox_settled_with_content')`,
          )
        ).map((r) => [r.name, r.valid]),
      );
    const built = {
      ix_auth_sessions_user_id: true,
      ix_auth_sessions_expires_at: true,
      ix_pending_signups_consumed_at: true,
      ix_pending_signups_open_expiry: true,
      ix_mail_outbox_settled: true,
      ix_mail_outbox_settled_with_content: true,
    };
    expect(await indexes()).toEqual(built);
    await revertThrough(HousekeepingIndexes1795487400000);
    expect(await indexes()).toEqual({ ix_auth_sessions_user: true });
    await db.runMigrations({ transaction: 'each' });
    expect(await indexes()).toEqual(built);
    // Both pooled connections (the scratch pool has two), one of which ran the builds without a timeout.
    const timeouts = await Promise.all(
      [0, 1].map(() =>
        db.transaction(async (m) => (await m.query<{ statement_timeout: string }[]>(`SHOW statement_timeout`))[0]!.statement_timeout),
      ),
    );
    expect(timeouts).toEqual(['15s', '15s']);
  });
});

/**
 * Replicas (or pods' init containers) that start together on an empty database: one applies the
 * migrations, including CREATE INDEX CONCURRENTLY, while the others wait for the lock.
 */
describe('migrations from replicas starting together', () => {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `${url.pathname}_migx_${randomUUID().slice(0, 8)}`;
  const replicas: DataSource[] = [];
  let holder: Client | undefined;

  beforeAll(() => ensureDatabase(url.toString()));
  afterAll(async () => {
    await holder?.end();
    await Promise.all(replicas.map((r) => r.destroy()));
    await dropDatabase(url.toString());
  });

  it("both finish: the one waiting for the lock does not hold up the other's concurrent index builds", async () => {
    // A third party holds the lock until both replicas are asking for it, so that one of them is
    // still waiting while the other builds its indexes.
    holder = new Client({ connectionString: url.toString() });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock(724311001)');
    for (let i = 0; i < 2; i++) {
      const replica = new DataSource(typeOrmOptions(url.toString(), 2));
      await replica.initialize();
      replicas.push(replica);
    }
    const runs = replicas.map((replica) =>
      runMigrationsLocked(replica).then(
        () => 'done',
        (error: Error) => error.message,
      ),
    );
    await eventually(async () => {
      const { rows } = await holder!.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE '%advisory_lock(%'`,
      );
      return rows[0]!.n === 2;
    });
    await holder.query('SELECT pg_advisory_unlock(724311001)');

    expect(await Promise.all(runs)).toEqual(['done', 'done']);
    const { rows } = await holder.query<{ n: number }>(`SELECT count(*)::int AS n FROM typeorm_migrations`);
    expect(rows[0]!.n).toBe(migrations.length);
  });
});

/** Migrations on a database in use: a long transaction on a table, a schema the code is ahead of. */
describe('migrations on a live database', () => {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `${url.pathname}_migl_${randomUUID().slice(0, 8)}`;
  let db: DataSource;

  beforeAll(async () => {
    await ensureDatabase(url.toString());
    db = new DataSource(typeOrmOptions(url.toString(), 1)); // a pool of one: the lock's connection migrates
    await db.initialize();
    await runMigrationsLocked(db);
    expect(migrations.at(-1)).toBe(ChatSessionsUpdatedAtMillis1795487500000); // the one reverted below
    await db.undoLastMigration({ transaction: 'each' });
  });
  afterAll(async () => {
    await db?.destroy();
    await dropDatabase(url.toString());
  });

  it('with DB_MIGRATIONS_RUN=false, start-up refuses a schema that lacks a migration, naming it', async () => {
    const runner = new MigrationRunner(db, { database: { migrationsRun: false } } as AppConfig);
    await expect(runner.onModuleInit()).rejects.toThrow(/lacks 1 migration\(s\).*ChatSessionsUpdatedAtMillis1795487500000.*migrate\.js/);
  });

  it('a migration queued behind a long transaction gives up its lock wait after a few seconds and is tried again, instead of stalling the table', async () => {
    const report = new Client({ connectionString: url.toString() });
    await report.connect();
    const warnings: string[] = [];
    try {
      await report.query('BEGIN');
      await report.query('SELECT count(*) FROM agent_chat_sessions'); // holds the table (ACCESS SHARE) until COMMIT
      const migrating = runMigrationsLocked(db, { log: () => undefined, warn: (m: string) => void warnings.push(m) });
      await eventually(() => warnings.length > 0, 10_000, 50);
      expect(warnings[0]).toMatch(/waited more than 3000 ms for a table lock/);
      // Between tries the table serves: a read that queued behind the ALTER would wait for the report.
      const probe = new Client({ connectionString: url.toString(), statement_timeout: 2_000 });
      await probe.connect();
      try {
        await expect(probe.query('SELECT count(*) FROM agent_chat_sessions')).resolves.toBeDefined();
      } finally {
        await probe.end();
      }
      await report.query('COMMIT');
      await migrating;
    } finally {
      await report.end();
    }
    const [last] = await db.query<{ name: string }[]>(`SELECT name FROM typeorm_migrations ORDER BY id DESC LIMIT 1`);
    expect(last?.name).toBe('ChatSessionsUpdatedAtMillis1795487500000');
    await expect(new MigrationRunner(db, { database: { migrationsRun: false } } as AppConfig).onModuleInit()).resolves.toBeUndefined();
  });

  it('the app installs no extension at start-up: the schema changes only through migrations', async () => {
    const app = await createTestApp({ DATABASE_URL: url.toString(), DB_MIGRATIONS_RUN: 'false' });
    await app.close();
    expect(await db.query(`SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'`)).toEqual([]);
  });
});
