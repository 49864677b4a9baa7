import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { preparedStatement, runPrepared } from '../../../common/database/prepared-statement';
import { isUniqueViolation, sqlStateOf } from '../../../common/database/unique-violation';
import { GRAPHEMES, toStorableText } from '../../../common/text/unicode';
import { agentChatError } from '../agent-chat.errors';
import type { AgUiEvent, CompletedToolCall, TokenUsage } from '../events/ag-ui-events';
import type { HistoryMessage } from '../history/history-message';
import { DEFAULT_HISTORY_WINDOW } from '../history/trim-history';
import { ChatMessageEntity, type ChatRole } from './chat-message.entity';
import { ChatRunEntity, type RunStatus } from './chat-run.entity';
import { ChatSessionEntity } from './chat-session.entity';

export interface OpenRunInput {
  readonly userId: string;
  /** Absent or unknown: a new session (with this id when one was given). */
  readonly sessionId: string | undefined;
  readonly message: string;
  readonly provider: string;
  readonly model: string;
  /** Runs older than this still marked `running` belong to a dead process. */
  readonly staleAfterMs: number;
}

export interface OpenedRun {
  readonly runId: string;
  readonly sessionId: string;
  readonly startedAt: Date;
  /** The session's messages in order, the new user message last. */
  readonly history: HistoryMessage[];
}

export interface NewMessage {
  readonly id: string;
  readonly role: ChatRole;
  readonly content: string;
  readonly toolCalls?: readonly CompletedToolCall[];
  readonly toolCallId?: string;
  readonly toolName?: string;
}

export interface RunOutcome {
  readonly status: Exclude<RunStatus, 'running'>;
  readonly errorCode: string | null;
  readonly usage: TokenUsage | null;
  readonly modelCalls: number;
  readonly toolCalls: number;
  readonly firstEventAt: Date | null;
  /** Stored only for succeeded runs: a failed run keeps just the user's message. */
  readonly messages: readonly NewMessage[];
  readonly events: readonly AgUiEvent[];
}

/**
 * Messages read back for one run, the new one included: no more than the model's window can keep
 * (trimHistory keeps at most `maxMessages`, newest first), so a long chat costs no more to open
 * than a short one. Trimming by size happens after.
 */
const HISTORY_READ_LIMIT = DEFAULT_HISTORY_WINDOW.maxMessages;

/**
 * Opening a run (here, and in `agent_chat_open_run`) commits without waiting for its WAL to reach
 * the disk (`synchronous_commit` off for that transaction only): the wait was about 3 ms of a
 * run's overhead on a VM's disk (bench/results.md, "Session 7"). The row is visible to every connection at once, as with any
 * commit. It becomes durable when the WAL writer flushes (within 3 × `wal_writer_delay`, 0.6 s by
 * default) or when the run's own closing commit, which does wait, flushes the WAL up to itself,
 * which includes the opening. So only a crash of PostgreSQL itself within that fraction of a
 * second can lose an opened run and its message, while the run is failing with the database
 * anyway. Closing a run keeps the full wait: the client is shown the answer only once it is on
 * disk.
 */
const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true)`;

/**
 * The statements every agent run sends are prepared once per connection
 * (common/database/prepared-statement.ts): parsing and planning the opening and closing ones again
 * on each run was ≈ 0.6 ms of a run's wall time (bench/results.md, "Session 15"). Every run opens
 * with one statement (a new session's, or an existing session's function call) and closes with
 * one. The parameters are listed where each runs.
 */
const OPEN_RUN_IN_NEW_SESSION = preparedStatement(
  `WITH cfg AS (SELECT ${ASYNC_COMMIT}), s AS (
     INSERT INTO agent_chat_sessions (id, user_id, title, created_at, updated_at)
     SELECT $1, $2, $3, $4, $4 FROM cfg RETURNING id
   ), r AS (
     INSERT INTO agent_chat_runs (id, session_id, user_id, status, provider, model, model_calls, tool_calls, started_at)
     SELECT $5, s.id, $2, 'running', $6, $7, 0, 0, $4 FROM s RETURNING id
   )
   INSERT INTO agent_chat_messages (id, session_id, run_id, seq, role, content, created_at)
   SELECT $8, s.id, r.id, 1, 'user', $9, $4 FROM s, r`,
);
/**
 * A run in an existing session, or in a new one whose id the client chose: one call of
 * `agent_chat_open_run` (migration 1795487000000, where its steps are described), which locks or
 * creates the session, sweeps a run a dead process left `running`, inserts the run and the user's
 * message and returns the history before it, newest first, in the call's own transaction. Not the
 * caller's session: SQLSTATE {@link SESSION_NOT_OWNED}, nothing written.
 */
const OPEN_RUN_IN_SESSION = preparedStatement(
  `SELECT role, content, tool_calls, tool_call_id, tool_name FROM agent_chat_open_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
);
/** The advisory lock (its `hashtext`) that lets one replica at a time sweep stale runs. */
export const STALE_RUN_SWEEP_LOCK = 'runtime-api/agent-chat-stale-runs';
/** Raised by `agent_chat_open_run` for a session that belongs to someone else. */
const SESSION_NOT_OWNED = 'RA404';
/**
 * A run's closing statement. Only a run still `running` is closed: one the stale-run sweep has
 * already failed (its process paused past the threshold, or its clock lagged) keeps that verdict,
 * and its messages are not stored, since its session may have taken another run since. Updates
 * the session (one row) only when the run was closed.
 */
const FINISH_RUN = preparedStatement(
  `WITH run AS (
     UPDATE agent_chat_runs
        SET status = $6, error_code = $7, input_tokens = $8, output_tokens = $9, total_tokens = $10, model_calls = $11,
            tool_calls = $12, first_event_at = $13, finished_at = $3, duration_ms = $14
      WHERE id = $1 AND status = 'running'
     RETURNING id
   ), base AS (
     SELECT COALESCE(MAX(seq), 0) AS seq FROM agent_chat_messages WHERE session_id = $2
   ), msgs AS (
     INSERT INTO agent_chat_messages (id, session_id, run_id, seq, role, content, tool_calls, tool_call_id, tool_name, created_at)
     SELECT x.id, $2, run.id, base.seq + x.ord, x.role, x.content, x.tool_calls, x.tool_call_id, x.tool_name, $3
       FROM run, base, jsonb_to_recordset($4::jsonb)
         AS x(id uuid, ord integer, role text, content text, tool_calls jsonb, tool_call_id text, tool_name text)
   ), evs AS (
     INSERT INTO agent_chat_run_events (run_id, seq, type, data)
     SELECT run.id, x.seq, x.type, x.data FROM run, jsonb_to_recordset($5::jsonb) AS x(seq integer, type text, data jsonb)
   )
   UPDATE agent_chat_sessions SET updated_at = $3 WHERE id = $2 AND EXISTS (SELECT 1 FROM run)`,
);

/** {@link AgentChatRepository.finishRun} found the run no longer `running`: the stale-run sweep failed it. */
export class RunAlreadyEnded extends Error {
  constructor(runId: string) {
    super(`run ${runId} was already ended (failed by the stale-run sweep) when it finished: its outcome is not stored`);
    this.name = 'RunAlreadyEnded';
  }
}

@Injectable()
export class AgentChatRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * In one transaction: finds or creates the session (404 when it is someone else's), registers
   * the run (409 when one is already running: the partial unique index decides), and stores the
   * user's message, so it is kept whatever happens to the model call.
   */
  async openRun(input: OpenRunInput): Promise<OpenedRun> {
    const runId = randomUUID();
    if (input.sessionId === undefined) return this.openRunInNewSession(input, runId);
    const sessionId = input.sessionId;
    const startedAt = new Date();
    try {
      const rows = await runPrepared<HistoryRow[]>(this.dataSource, OPEN_RUN_IN_SESSION, [
        sessionId,
        input.userId,
        input.staleAfterMs / 1000,
        titleFrom(input.message),
        runId,
        input.provider,
        input.model.slice(0, 200),
        startedAt,
        randomUUID(),
        input.message,
        HISTORY_READ_LIMIT - 1,
      ]);
      return { runId, sessionId, startedAt, history: [...rows.reverse().map(toHistory), userMessage(input.message)] };
    } catch (error) {
      if (isUniqueViolation(error, 'uq_agent_chat_runs_one_running')) throw agentChatError('run_in_progress');
      if (sqlStateOf(error) === SESSION_NOT_OWNED) throw agentChatError('session_not_found');
      throw error;
    }
  }

  /**
   * A run in a new session (no `session_id`): session, run and the user's message in one
   * statement, hence atomically and in one round trip. Nothing can conflict: every id is new. The
   * statement's own implicit transaction commits asynchronously (`cfg`; see ASYNC_COMMIT).
   */
  private async openRunInNewSession(input: OpenRunInput, runId: string): Promise<OpenedRun> {
    const sessionId = randomUUID();
    const startedAt = new Date();
    await runPrepared(this.dataSource, OPEN_RUN_IN_NEW_SESSION, [
      sessionId,
      input.userId,
      titleFrom(input.message),
      startedAt,
      runId,
      input.provider,
      input.model.slice(0, 200),
      randomUUID(),
      input.message,
    ]);
    return { runId, sessionId, startedAt, history: [userMessage(input.message)] };
  }

  /**
   * Records how the run ended, with its messages (when it succeeded) and events: one statement,
   * so atomic and one round trip however many messages and events the run had. Throws
   * {@link RunAlreadyEnded}, storing nothing, when the run is no longer `running`.
   */
  async finishRun(run: OpenedRun, outcome: RunOutcome): Promise<void> {
    const finishedAt = new Date();
    const messages = outcome.messages.map((m, i) => ({
      id: m.id,
      ord: i + 1,
      role: m.role,
      content: m.content,
      tool_calls: m.toolCalls?.length ? m.toolCalls : null,
      tool_call_id: m.toolCallId ?? null,
      tool_name: m.toolName ?? null,
    }));
    const events = outcome.events.map((event, i) => ({ seq: i + 1, type: event.type, data: event }));
    // An UPDATE's result through TypeORM: [rows, rowCount].
    const [, closed] = await runPrepared<[unknown[], number]>(this.dataSource, FINISH_RUN, [
      run.runId,
      run.sessionId,
      finishedAt,
      JSON.stringify(messages, storable),
      JSON.stringify(events, storable),
      outcome.status,
      outcome.errorCode,
      outcome.usage?.input_tokens ?? null,
      outcome.usage?.output_tokens ?? null,
      outcome.usage?.total_tokens ?? null,
      outcome.modelCalls,
      outcome.toolCalls,
      outcome.firstEventAt,
      finishedAt.getTime() - run.startedAt.getTime(),
    ]);
    if (closed === 0) throw new RunAlreadyEnded(run.runId);
  }

  /**
   * Marks a run failed without its messages or events: the fallback when {@link finishRun}
   * failed. A run already recorded (its closing statement committed after all) is left as it is.
   */
  async failRun(run: OpenedRun, errorCode: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE agent_chat_runs
          SET status = 'failed', error_code = $2, finished_at = now(),
              duration_ms = floor(extract(epoch FROM now() - started_at) * 1000)
        WHERE id = $1 AND status = 'running'`,
      [run.runId, errorCode],
    );
  }

  /**
   * Marks runs a dead process left `running` as failed; returns how many, or `null` when another
   * replica is doing it (it holds {@link STALE_RUN_SWEEP_LOCK}). One statement, so the
   * transaction-scoped lock lasts exactly as long as its update.
   */
  async failStaleRuns(staleAfterMs: number): Promise<number | null> {
    const [row] = await this.dataSource.query<{ locked: boolean; swept: number }[]>(
      `WITH lock AS MATERIALIZED (
         SELECT pg_try_advisory_xact_lock(hashtext($2)) AS locked
       ), swept AS (
         UPDATE agent_chat_runs SET status = 'failed', error_code = 'interrupted', finished_at = now()
           FROM lock
          WHERE lock.locked AND status = 'running' AND started_at < now() - make_interval(secs => $1)
         RETURNING 1
       )
       SELECT lock.locked, (SELECT count(*) FROM swept)::int AS swept FROM lock`,
      [staleAfterMs / 1000, STALE_RUN_SWEEP_LOCK],
    );
    return row?.locked ? row.swept : null;
  }

  async findRun(runId: string): Promise<ChatRunEntity | null> {
    return this.dataSource.getRepository(ChatRunEntity).findOneBy({ id: runId });
  }

  /** The user's sessions, newest activity first; keyset pagination on (updated_at, id). */
  async listSessions(userId: string, limit: number, after?: { updatedAt: Date; id: string }): Promise<ChatSessionEntity[]> {
    const query = this.dataSource
      .getRepository(ChatSessionEntity)
      .createQueryBuilder('s')
      .where('s.user_id = :userId', { userId })
      // The column holds milliseconds (migration ChatSessionsUpdatedAtMillis), as the cursor's JS
      // Date does, so the index (user_id, updated_at DESC, id DESC) gives the order.
      .orderBy('s.updated_at', 'DESC')
      .addOrderBy('s.id', 'DESC')
      .limit(limit);
    if (after) query.andWhere(`(s.updated_at, s.id) < (:updatedAt, :id)`, { updatedAt: after.updatedAt, id: after.id });
    return query.getMany();
  }

  async findOwnedSession(userId: string, sessionId: string): Promise<ChatSessionEntity | null> {
    return this.dataSource.getRepository(ChatSessionEntity).findOneBy({ id: sessionId, userId });
  }

  async listMessages(sessionId: string): Promise<ChatMessageEntity[]> {
    return this.dataSource.getRepository(ChatMessageEntity).find({ where: { sessionId }, order: { seq: 'ASC' } });
  }
}

/** A JSON.stringify replacer: strings a model or a tool produced may hold what jsonb cannot store. */
function storable(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? toStorableText(value) : value;
}

/** The session's title: the first message, whitespace collapsed, cut at a readable length. */
export function titleFrom(message: string): string {
  const flat = message.replace(/\s+/g, ' ').trim();
  if (flat.length <= TITLE_MAX_CODE_POINTS || [...flat].length <= TITLE_MAX_CODE_POINTS) return flat;
  // Cut between characters as a person sees them, never inside an emoji (a surrogate pair cut
  // in two was stored as U+FFFD) or a ZWJ sequence.
  let title = '';
  let codePoints = 0;
  for (const { segment } of GRAPHEMES.segment(flat)) {
    const size = [...segment].length;
    if (codePoints + size > TITLE_MAX_CODE_POINTS - 1) return `${title}…`;
    title += segment;
    codePoints += size;
  }
  return title;
}

/** A title's length in code points, ellipsis included (the column holds 120). */
const TITLE_MAX_CODE_POINTS = 80;

/** A stored message as {@link OPEN_RUN_IN_SESSION} reads it back. */
interface HistoryRow {
  role: ChatRole;
  content: string;
  tool_calls: CompletedToolCall[] | null;
  tool_call_id: string | null;
  tool_name: string | null;
}

function toHistory(m: HistoryRow): HistoryMessage {
  return { role: m.role, content: m.content, toolCalls: m.tool_calls, toolCallId: m.tool_call_id, toolName: m.tool_name };
}

function userMessage(content: string): HistoryMessage {
  return { role: 'user', content, toolCalls: null, toolCallId: null, toolName: null };
}
