import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * auth_sessions keeps the email and stored role of its user, as of the session's start, so a
 * refresh (which must answer with the email and sign the role) needs no read of the users table:
 * one statement instead of two. The snapshot cannot go stale: the email never changes, changing
 * a role closes every session of the user (`grant-admin`/`revoke-admin`), and deleting the user
 * deletes its sessions. NULL (sessions older than this migration, none after the backfill) makes
 * refresh read the user as before.
 */
export class SessionUserSnapshot1795486800000 implements MigrationInterface {
  name = 'SessionUserSnapshot1795486800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE auth_sessions ADD COLUMN user_email varchar(254) NULL, ADD COLUMN user_role varchar(16) NULL`);
    await queryRunner.query(
      `UPDATE auth_sessions s SET user_email = u.email, user_role = u.role FROM users u WHERE u.id = s.user_id AND s.revoked_at IS NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE auth_sessions DROP COLUMN user_email, DROP COLUMN user_role`);
  }
}
