import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Revoked sessions by revocation time: every replica re-copies the recent revocations into Redis
 * once a minute (SessionRevocationStore), and housekeeping deletes sessions a day after their
 * revocation. Partial: only revoked rows, which housekeeping keeps to about a day's worth.
 */
export class SessionsRevokedIndex1795486900000 implements MigrationInterface {
  name = 'SessionsRevokedIndex1795486900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX ix_auth_sessions_revoked_at ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX ix_auth_sessions_revoked_at`);
  }
}
