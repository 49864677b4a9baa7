import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The agent chat module's tables: sessions (owned by a user), their messages in order, runs
 * (status, model, token usage, timings, error code) and each run's events. The partial unique
 * index `uq_agent_chat_runs_one_running` is the database-enforced "one run at a time per
 * session" (a second concurrent run is a unique violation → 409 run_in_progress).
 */
export class CreateAgentChat1795486700000 implements MigrationInterface {
  name = 'CreateAgentChat1795486700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE agent_chat_sessions (
        id uuid NOT NULL,
        user_id uuid NOT NULL,
        title varchar(120) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_agent_chat_sessions PRIMARY KEY (id),
        CONSTRAINT fk_agent_chat_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX ix_agent_chat_sessions_user_updated ON agent_chat_sessions (user_id, updated_at DESC, id DESC)`);

    await queryRunner.query(`
      CREATE TABLE agent_chat_runs (
        id uuid NOT NULL,
        session_id uuid NOT NULL,
        user_id uuid NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'running',
        provider varchar(32) NOT NULL,
        model varchar(200) NOT NULL,
        input_tokens integer NULL,
        output_tokens integer NULL,
        total_tokens integer NULL,
        model_calls integer NOT NULL DEFAULT 0,
        tool_calls integer NOT NULL DEFAULT 0,
        error_code varchar(64) NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        first_event_at timestamptz NULL,
        finished_at timestamptz NULL,
        duration_ms integer NULL,
        CONSTRAINT pk_agent_chat_runs PRIMARY KEY (id),
        CONSTRAINT fk_agent_chat_runs_session FOREIGN KEY (session_id) REFERENCES agent_chat_sessions (id) ON DELETE CASCADE,
        CONSTRAINT ck_agent_chat_runs_status CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'aborted'))
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX uq_agent_chat_runs_one_running ON agent_chat_runs (session_id) WHERE status = 'running'`);
    await queryRunner.query(`CREATE INDEX ix_agent_chat_runs_running_started ON agent_chat_runs (started_at) WHERE status = 'running'`);
    await queryRunner.query(`CREATE INDEX ix_agent_chat_runs_session ON agent_chat_runs (session_id, started_at)`);

    await queryRunner.query(`
      CREATE TABLE agent_chat_messages (
        id uuid NOT NULL,
        session_id uuid NOT NULL,
        run_id uuid NULL,
        seq integer NOT NULL,
        role varchar(16) NOT NULL,
        content text NOT NULL,
        tool_calls jsonb NULL,
        tool_call_id varchar(128) NULL,
        tool_name varchar(64) NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_agent_chat_messages PRIMARY KEY (id),
        CONSTRAINT uq_agent_chat_messages_session_seq UNIQUE (session_id, seq),
        CONSTRAINT fk_agent_chat_messages_session FOREIGN KEY (session_id) REFERENCES agent_chat_sessions (id) ON DELETE CASCADE,
        CONSTRAINT fk_agent_chat_messages_run FOREIGN KEY (run_id) REFERENCES agent_chat_runs (id) ON DELETE SET NULL,
        CONSTRAINT ck_agent_chat_messages_role CHECK (role IN ('user', 'assistant', 'tool'))
      )`);
    await queryRunner.query(`CREATE INDEX ix_agent_chat_messages_run ON agent_chat_messages (run_id)`);

    await queryRunner.query(`
      CREATE TABLE agent_chat_run_events (
        run_id uuid NOT NULL,
        seq integer NOT NULL,
        type varchar(32) NOT NULL,
        data jsonb NOT NULL,
        CONSTRAINT pk_agent_chat_run_events PRIMARY KEY (run_id, seq),
        CONSTRAINT fk_agent_chat_run_events_run FOREIGN KEY (run_id) REFERENCES agent_chat_runs (id) ON DELETE CASCADE
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE agent_chat_run_events`);
    await queryRunner.query(`DROP TABLE agent_chat_messages`);
    await queryRunner.query(`DROP TABLE agent_chat_runs`);
    await queryRunner.query(`DROP TABLE agent_chat_sessions`);
  }
}
