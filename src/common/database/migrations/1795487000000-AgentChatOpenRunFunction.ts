import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Opening a run in an existing agent chat session as one statement: a call of this function.
 * It was a transaction of four round trips (BEGIN, lock the session, insert the run and the
 * message, COMMIT); on the platforms we measure, each round trip that wakes PostgreSQL costs more
 * of our CPU than the work it carries (bench/results.md, "Session 17"). The function does what
 * the two statements did, in the same order, inside the call's own transaction:
 *
 * 1. this transaction's commit does not wait for the disk (see ASYNC_COMMIT in the repository);
 * 2. lock the session row, or create it when the client chose a new id (a racing first message
 *    waits for the winner's row, then locks it); not the caller's: SQLSTATE RA404, nothing written;
 * 3. mark failed a run a dead process left `running` in it, after the lock, so two opens of one
 *    session wait for each other and never deadlock;
 * 4. insert the run (the partial unique index uq_agent_chat_runs_one_running refuses a second
 *    running one), the user's message with the session's next seq, the session's activity time;
 * 5. return the session's history before this message, newest first.
 *
 * Statements inside a function see the function's earlier writes, so the history leaves out the
 * new message by id.
 */
export class AgentChatOpenRunFunction1795487000000 implements MigrationInterface {
  name = 'AgentChatOpenRunFunction1795487000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION agent_chat_open_run(
        p_session_id uuid, p_user_id uuid, p_stale_after_secs double precision, p_title text,
        p_run_id uuid, p_provider text, p_model text, p_started_at timestamptz,
        p_message_id uuid, p_message text, p_history_limit integer
      ) RETURNS TABLE (role text, content text, tool_calls jsonb, tool_call_id text, tool_name text)
      LANGUAGE plpgsql VOLATILE AS $fn$
      #variable_conflict use_column
      DECLARE
        v_owner uuid;
      BEGIN
        PERFORM set_config('synchronous_commit', 'off', true);

        SELECT s.user_id INTO v_owner FROM agent_chat_sessions s WHERE s.id = p_session_id FOR UPDATE;
        IF NOT FOUND THEN
          INSERT INTO agent_chat_sessions (id, user_id, title, created_at, updated_at)
          VALUES (p_session_id, p_user_id, p_title, p_started_at, p_started_at)
          ON CONFLICT (id) DO NOTHING;
          IF FOUND THEN
            v_owner := p_user_id;
          ELSE
            SELECT s.user_id INTO v_owner FROM agent_chat_sessions s WHERE s.id = p_session_id FOR UPDATE;
          END IF;
        END IF;
        IF v_owner IS DISTINCT FROM p_user_id THEN
          RAISE EXCEPTION 'agent chat session not found' USING ERRCODE = 'RA404';
        END IF;

        UPDATE agent_chat_runs r SET status = 'failed', error_code = 'interrupted', finished_at = now()
         WHERE r.session_id = p_session_id AND r.status = 'running'
           AND r.started_at < now() - make_interval(secs => p_stale_after_secs);

        INSERT INTO agent_chat_runs (id, session_id, user_id, status, provider, model, model_calls, tool_calls, started_at)
        VALUES (p_run_id, p_session_id, p_user_id, 'running', p_provider, p_model, 0, 0, p_started_at);
        INSERT INTO agent_chat_messages (id, session_id, run_id, seq, role, content, created_at)
        SELECT p_message_id, p_session_id, p_run_id, COALESCE(MAX(m.seq), 0) + 1, 'user', p_message, p_started_at
          FROM agent_chat_messages m WHERE m.session_id = p_session_id;
        UPDATE agent_chat_sessions s SET updated_at = p_started_at WHERE s.id = p_session_id;

        RETURN QUERY
          SELECT m.role::text, m.content, m.tool_calls, m.tool_call_id::text, m.tool_name::text
            FROM agent_chat_messages m
           WHERE m.session_id = p_session_id AND m.id <> p_message_id
           ORDER BY m.seq DESC LIMIT p_history_limit;
      END
      $fn$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `DROP FUNCTION agent_chat_open_run(uuid, uuid, double precision, text, uuid, text, text, timestamptz, uuid, text, integer)`,
    );
  }
}
