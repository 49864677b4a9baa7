import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for the housekeeping rules (AuthHousekeeping) and for deleting a user, so that each
 * costs what it deletes rather than a scan of its table: measured on 2 M sessions, a pass with
 * nothing to delete read the whole of auth_sessions (≈ 900 MB, 0.25–0.5 s) and deleting one
 * user scanned it for the cascade (the user index was partial, live sessions only, and the
 * admin CLI revokes them first).
 * - auth_sessions (user_id), every session: replaces the partial ix_auth_sessions_user (revoking
 *   all of a user's sessions reads the same index with a filter).
 * - auth_sessions (expires_at): never updated, so refresh rotations stay HOT updates.
 * - pending_signups: consumed ones by consumed_at, open ones by code expiry.
 * - mail_outbox: settled mail by status and age; settled mail still holding content (none in the
 *   steady state: sending wipes it).
 * Built CONCURRENTLY, outside a transaction, so writes go on while a large table is indexed. A
 * build that fails leaves an invalid index behind: `up` drops each one first, so running it again
 * repairs that.
 */
export class HousekeepingIndexes1795487400000 implements MigrationInterface {
  name = 'HousekeepingIndexes1795487400000';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    await withoutStatementTimeout(queryRunner, async () => {
      for (const [name, definition] of INDEXES) {
        await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
        await queryRunner.query(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`);
      }
      await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ix_auth_sessions_user`);
    });
  }

  // TypeORM reverts inside a transaction whatever `transaction` says, where CONCURRENTLY is refused:
  // reverting blocks writes to these tables while the old index is built.
  async down(queryRunner: QueryRunner): Promise<void> {
    await withoutStatementTimeout(queryRunner, async () => {
      await queryRunner.query(`DROP INDEX IF EXISTS ix_auth_sessions_user`);
      await queryRunner.query(`CREATE INDEX ix_auth_sessions_user ON auth_sessions (user_id) WHERE revoked_at IS NULL`);
      for (const [name] of INDEXES) await queryRunner.query(`DROP INDEX IF EXISTS ${name}`);
    });
  }
}

/**
 * The pool's connections stop a statement after 15 s (typeorm-options.ts); building an index on a
 * large table takes longer. And the migrations' connection stops a lock wait after 3 s
 * (migration-runner.ts), while CREATE INDEX CONCURRENTLY waits, as lock waits, for the
 * transactions older than its build to end, blocking nobody meanwhile. Both are lifted for this
 * connection while the builds run, then restored (it returns to the pool afterwards).
 */
async function withoutStatementTimeout(queryRunner: QueryRunner, work: () => Promise<void>): Promise<void> {
  const [{ lock_timeout: lockTimeout }] = (await queryRunner.query(`SHOW lock_timeout`)) as [{ lock_timeout: string }];
  await queryRunner.query(`SET statement_timeout = 0`);
  await queryRunner.query(`SET lock_timeout = 0`);
  try {
    await work();
  } finally {
    await queryRunner.query(`RESET statement_timeout`);
    await queryRunner.query(`SELECT set_config('lock_timeout', $1, false)`, [lockTimeout]);
  }
}

const INDEXES: readonly (readonly [name: string, definition: string])[] = [
  ['ix_auth_sessions_user_id', `auth_sessions (user_id)`],
  ['ix_auth_sessions_expires_at', `auth_sessions (expires_at)`],
  ['ix_pending_signups_consumed_at', `pending_signups (consumed_at) WHERE consumed_at IS NOT NULL`],
  ['ix_pending_signups_open_expiry', `pending_signups (code_expires_at) WHERE consumed_at IS NULL`],
  ['ix_mail_outbox_settled', `mail_outbox (status, created_at) WHERE status IN ('sent', 'failed')`],
  [
    'ix_mail_outbox_settled_with_content',
    `mail_outbox (id) WHERE status IN ('sent', 'failed') AND (subject <> '' OR text <> '' OR html IS NOT NULL OR sealed IS NOT NULL)`,
  ],
];
