import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The users table, owned by the users module. Uniqueness lives in named unique indexes so a
 * violation maps to a 409 by name (see unique-violation.ts): usernames compare case-insensitively
 * through `lower(username)`, emails are stored already lowercased and trimmed. gen_random_uuid()
 * is built into PostgreSQL 13+, so no extension is needed.
 */
export class CreateUsers1795486493413 implements MigrationInterface {
  name = 'CreateUsers1795486493413';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE users (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        username varchar(30) NOT NULL,
        email varchar(254) NOT NULL,
        password_hash text NOT NULL,
        role varchar(16) NOT NULL DEFAULT 'user',
        avatar_url varchar(2048) NULL,
        bio text NULL,
        email_confirmed_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_users PRIMARY KEY (id),
        CONSTRAINT ck_users_role CHECK (role IN ('user', 'admin')),
        CONSTRAINT ck_users_username_format CHECK (username ~ '^[A-Za-z0-9_]{3,30}$'),
        CONSTRAINT ck_users_email_normalized CHECK (email = lower(btrim(email)))
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX uq_users_username_lower ON users (lower(username))`);
    await queryRunner.query(`CREATE UNIQUE INDEX uq_users_email ON users (email)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE users`);
  }
}
