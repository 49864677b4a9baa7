import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { dropDatabase, ensureDatabase } from '../../src/common/database/ensure-database';
import { migrations } from '../../src/common/database/migrations';
import { RunTimeoutIsFailed1795487300000 } from '../../src/common/database/migrations/1795487300000-RunTimeoutIsFailed';
import { typeOrmOptions } from '../../src/common/database/typeorm-options';

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
});
