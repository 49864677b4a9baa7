import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * agent_chat_sessions.updated_at at millisecond precision, what the session list's cursor carries
 * (a JavaScript Date). The list compared date_trunc('milliseconds', updated_at), which no index can
 * serve (date_trunc on timestamptz is STABLE): it read and sorted every session of the user (18 ms
 * for 5,000). With the column itself at milliseconds, it reads (user_id, updated_at DESC, id DESC)
 * in order and stops at the page. Every value the app writes is a JavaScript Date already; the
 * type makes any other writer round the same way. Rewrites the table once, holding it (ACCESS
 * EXCLUSIVE: agent runs wait) meanwhile; where that would take longer than the pool's statement
 * timeout (15 s, millions of chats) the migration fails, changing nothing: run the ALTER below by
 * hand first, in a quiet hour and with a longer timeout; the migration then finds the column as it
 * wants it, and PostgreSQL does not rewrite the table again.
 */
export class ChatSessionsUpdatedAtMillis1795487500000 implements MigrationInterface {
  name = 'ChatSessionsUpdatedAtMillis1795487500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE agent_chat_sessions ALTER COLUMN updated_at TYPE timestamptz(3)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE agent_chat_sessions ALTER COLUMN updated_at TYPE timestamptz`);
  }
}
