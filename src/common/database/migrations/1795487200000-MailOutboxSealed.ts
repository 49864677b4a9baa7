import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * mail_outbox stores a mail's content sealed (AES-256-GCM, `sealed`) instead of in subject, text
 * and html, so the table never holds a usable signup code; settled rows are wiped. Sealed rows go
 * to the lane `<lane>/sealed`, which the replicas of the previous release (still running during a
 * rolling release) never claim: they would send its empty subject and text. `lane` grows to hold
 * that suffix on a 64-character lane; widening a varchar rewrites neither the table nor its index.
 * Plaintext rows already queued stay in their lane and are sent by either release.
 */
export class MailOutboxSealed1795487200000 implements MigrationInterface {
  name = 'MailOutboxSealed1795487200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE mail_outbox ADD COLUMN sealed text NULL, ALTER COLUMN lane TYPE varchar(80)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // The previous release cannot open sealed rows: unsent ones end as failed (their codes can be
    // resent), and every row goes back to its configured lane so `lane` fits 64 characters again.
    await queryRunner.query(
      `UPDATE mail_outbox SET status = 'failed', last_error = 'sealed mail dropped by a migration revert'
        WHERE sealed IS NOT NULL AND status IN ('pending', 'sending')`,
    );
    await queryRunner.query(`UPDATE mail_outbox SET lane = left(lane, length(lane) - length('/sealed')) WHERE lane LIKE '%/sealed'`);
    await queryRunner.query(`ALTER TABLE mail_outbox DROP COLUMN sealed, ALTER COLUMN lane TYPE varchar(64)`);
  }
}
