import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The auth module's tables: pending signups (one row per signup, so a second signup for an
 * unconfirmed address never overwrites the first one's password), sessions with their refresh
 * token history (so any rotated token is recognized and its reuse revokes the session), and the
 * mail outbox (written in the signup's transaction, drained by a background worker).
 */
export class CreateAuthTables1795486600000 implements MigrationInterface {
  name = 'CreateAuthTables1795486600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE pending_signups (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        username varchar(30) NOT NULL,
        email varchar(254) NOT NULL,
        password_hash text NOT NULL,
        code_hmac bytea NOT NULL,
        code_expires_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        locale varchar(8) NOT NULL,
        redirect_to text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        consumed_at timestamptz NULL,
        CONSTRAINT pk_pending_signups PRIMARY KEY (id),
        CONSTRAINT ck_pending_signups_email_normalized CHECK (email = lower(btrim(email))),
        CONSTRAINT ck_pending_signups_attempts CHECK (attempts >= 0)
      )`);
    await queryRunner.query(
      `CREATE INDEX ix_pending_signups_email_live ON pending_signups (email, created_at DESC) WHERE consumed_at IS NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_pending_signups_username_live ON pending_signups (lower(username), code_expires_at) WHERE consumed_at IS NULL`,
    );

    await queryRunner.query(`
      CREATE TABLE auth_sessions (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL,
        refresh_hash varchar(64) NOT NULL,
        previous_refresh_hash varchar(64) NULL,
        rotated_at timestamptz NULL,
        replacement_sealed text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        user_agent varchar(512) NULL,
        ip varchar(64) NULL,
        revoked_at timestamptz NULL,
        revoked_reason varchar(32) NULL,
        CONSTRAINT pk_auth_sessions PRIMARY KEY (id),
        CONSTRAINT fk_auth_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX ix_auth_sessions_user ON auth_sessions (user_id) WHERE revoked_at IS NULL`);

    await queryRunner.query(`
      CREATE TABLE auth_refresh_tokens (
        token_hash varchar(64) NOT NULL,
        session_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_auth_refresh_tokens PRIMARY KEY (token_hash),
        CONSTRAINT fk_auth_refresh_tokens_session FOREIGN KEY (session_id) REFERENCES auth_sessions (id) ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX ix_auth_refresh_tokens_session ON auth_refresh_tokens (session_id)`);

    await queryRunner.query(`
      CREATE TABLE mail_outbox (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        lane varchar(64) NOT NULL DEFAULT 'default',
        "to" varchar(254) NOT NULL,
        subject text NOT NULL,
        text text NOT NULL,
        html text NULL,
        status varchar(16) NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text NULL,
        request_id varchar(128) NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz NULL,
        CONSTRAINT pk_mail_outbox PRIMARY KEY (id),
        CONSTRAINT ck_mail_outbox_status CHECK (status IN ('pending', 'sending', 'sent', 'failed'))
      )`);
    await queryRunner.query(
      `CREATE INDEX ix_mail_outbox_due ON mail_outbox (lane, next_attempt_at) WHERE status IN ('pending', 'sending')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE mail_outbox`);
    await queryRunner.query(`DROP TABLE auth_refresh_tokens`);
    await queryRunner.query(`DROP TABLE auth_sessions`);
    await queryRunner.query(`DROP TABLE pending_signups`);
  }
}
