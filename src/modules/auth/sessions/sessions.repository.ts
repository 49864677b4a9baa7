import { Injectable } from '@nestjs/common';
import DataLoader from 'dataloader';
import { DataSource, type EntityManager } from 'typeorm';
import type { Role } from '../../../common/auth';
import { preparedStatement, runPrepared } from '../../../common/database/prepared-statement';
import { rowsOf } from '../sql-rows';

/** The user as of the session's start (see the SessionUserSnapshot migration); NULL on older rows. */
export interface SessionUser {
  readonly user_id: string;
  readonly user_email: string | null;
  readonly user_role: Role | null;
}

/** A session just opened, with its user's email and role as they were at that moment. */
export interface OpenedSession {
  readonly id: string;
  readonly user_id: string;
  readonly user_email: string;
  readonly user_role: Role;
}

export interface LockedSession extends SessionUser {
  readonly id: string;
  readonly refresh_hash: string;
  readonly previous_refresh_hash: string | null;
  readonly replacement_sealed: string | null;
  readonly revoked_at: Date | null;
  /** Past 90 days in all or 30 days without use. */
  readonly expired: boolean;
  /** The previous token was rotated less than the grace period ago. */
  readonly in_grace: boolean;
}

export interface NewSession {
  readonly userId: string;
  readonly refreshHash: string;
  readonly maxSeconds: number;
  readonly userAgent: string | undefined;
  readonly ip: string | undefined;
}

// Hot statements (every login, every refresh), prepared once per connection.

/**
 * The user is read here, FOR SHARE, not taken from the caller: a role change or a deletion holds
 * the user's row (FOR UPDATE) while it closes the user's sessions (AccountChangesService), so a
 * session is either opened before and closed with the others, or opened after with the new role,
 * or not at all once the user is gone. (The foreign key's own lock, FOR KEY SHARE, does not wait
 * for a role change.)
 */
const INSERT_SESSION = preparedStatement(
  `WITH holder AS (
     SELECT id, email, role FROM users WHERE id = $1 FOR SHARE
   ), created AS (
     INSERT INTO auth_sessions (user_id, refresh_hash, expires_at, user_agent, ip, user_email, user_role)
     SELECT id, $2, now() + make_interval(secs => $3), $4, $5, email, role FROM holder
     RETURNING id, user_id, user_email, user_role
   ), remembered AS (
     INSERT INTO auth_refresh_tokens (token_hash, session_id) SELECT $2, id FROM created
   )
   SELECT id, user_id, user_email, user_role FROM created`,
);

const ROTATE_IF_CURRENT = preparedStatement(
  `WITH rotated AS (
     UPDATE auth_sessions s
        SET previous_refresh_hash = s.refresh_hash, refresh_hash = $2, rotated_at = now(), replacement_sealed = $3,
            last_used_at = now()
      WHERE s.id = (SELECT t.session_id FROM auth_refresh_tokens t WHERE t.token_hash = $1)
        AND s.refresh_hash = $1 AND s.revoked_at IS NULL
        AND s.expires_at > now() AND s.last_used_at + make_interval(secs => $4) > now()
     RETURNING s.id, s.user_id, s.user_email, s.user_role
   ), remembered AS (
     INSERT INTO auth_refresh_tokens (token_hash, session_id) SELECT $2, id FROM rotated
   )
   SELECT id, user_id, user_email, user_role FROM rotated`,
);

/**
 * The same rotation for many tokens at once: the refreshes of concurrent requests, asked in one
 * event-loop turn, as one statement and one commit (see `rotateIfCurrent`). Each input row keeps
 * its position (`ord`), and each caller gets the row of its own position or nothing.
 * - One rotation per session: when a batch holds a session twice (two tabs refreshing at once),
 *   only its first entry is tried and the other takes the slow path, as if it had come second
 *   (were the first entry a token that is no longer current, both take the slow path).
 * - Row locks in id order (`locked`, sorted below FOR UPDATE): batches that share sessions, on
 *   this replica or another, wait for each other instead of deadlocking. A row updated since the
 *   statement's snapshot is re-checked on its newest version (READ COMMITTED), so a token rotated
 *   meanwhile is no longer current and its caller takes the slow path.
 * Not a prepared statement: planned for each batch, with the batch's real size and the tables'
 * current size (the planning is shared by the whole batch). A generic plan cached while the
 * tables were small kept hash joins over sequential scans after they had grown (bench: 3.5k
 * instead of 4.1k refreshes per second over 20 s).
 */
const ROTATE_MANY = `WITH input AS (
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])
       WITH ORDINALITY AS i(token_hash, new_hash, sealed, idle_seconds, ord)
   ), target AS (
     SELECT DISTINCT ON (t.session_id) i.ord, i.token_hash, i.new_hash, i.sealed, i.idle_seconds, t.session_id
       FROM input i JOIN auth_refresh_tokens t ON t.token_hash = i.token_hash
      ORDER BY t.session_id, i.ord
   ), locked AS (
     SELECT s.id FROM auth_sessions s WHERE s.id IN (SELECT session_id FROM target) ORDER BY s.id FOR UPDATE
   ), rotated AS (
     UPDATE auth_sessions s
        SET previous_refresh_hash = s.refresh_hash, refresh_hash = target.new_hash, rotated_at = now(),
            replacement_sealed = target.sealed, last_used_at = now()
       FROM target JOIN locked ON locked.id = target.session_id
      WHERE s.id = target.session_id AND s.refresh_hash = target.token_hash AND s.revoked_at IS NULL
        AND s.expires_at > now() AND s.last_used_at + make_interval(secs => target.idle_seconds) > now()
     RETURNING target.ord, target.new_hash, s.id, s.user_id, s.user_email, s.user_role
   ), remembered AS (
     INSERT INTO auth_refresh_tokens (token_hash, session_id) SELECT new_hash, id FROM rotated
   )
   SELECT ord, id, user_id, user_email, user_role FROM rotated`;

/** Most rotations in one statement: bounds its size and the work one batch holds up. */
const MAX_ROTATIONS_PER_STATEMENT = 100;

export interface Rotation {
  readonly tokenHash: string;
  readonly newHash: string;
  readonly sealed: string;
  readonly idleSeconds: number;
}

export type RotatedSession = SessionUser & { id: string };

/**
 * auth_sessions plus auth_refresh_tokens (every refresh token hash a session ever had, so a
 * rotated token is still recognized as belonging to its session and its reuse can revoke it).
 */
@Injectable()
export class SessionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Coalesces the rotations asked for in one event-loop turn (DataLoader, cache off: nothing is
   * shared between callers but the statement). A lone rotation runs the one-row statement. A batch
   * that fails (a deadlock with another statement, a lost connection) must not fail its other
   * callers: each then retries alone, and only its own error reaches it. That retry is safe even
   * when the batch had committed unseen: the token is then no longer current, and its caller's
   * slow path finds the rotation within the grace period and returns the same replacement.
   */
  private readonly rotations = new DataLoader<Rotation, RotatedSession | null>(
    async (batch) => {
      if (batch.length === 1) return [await this.rotateOne(batch[0]!)];
      try {
        return await this.rotateMany(batch);
      } catch {
        return Promise.all(
          batch.map((r) => this.rotateOne(r).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))),
        );
      }
    },
    { cache: false, maxBatchSize: MAX_ROTATIONS_PER_STATEMENT },
  );

  /**
   * The session and its first token's row in one statement (atomic on its own, one round trip),
   * with the user's email and role as they are now; undefined when the user no longer exists.
   */
  async insert(m: EntityManager, s: NewSession): Promise<OpenedSession | undefined> {
    const rows = await runPrepared<OpenedSession[]>(m, INSERT_SESSION, [
      s.userId,
      s.refreshHash,
      s.maxSeconds,
      s.userAgent ?? null,
      s.ip ?? null,
    ]);
    return rows[0];
  }

  /**
   * The session a refresh token (current or rotated) belongs to, locked FOR UPDATE: concurrent
   * refreshes of one token queue here, and each sees the previous one's rotation.
   */
  async lockByToken(m: EntityManager, tokenHash: string, idleSeconds: number, graceMs: number): Promise<LockedSession | undefined> {
    const rows = await m.query<LockedSession[]>(
      `SELECT s.id, s.user_id, s.user_email, s.user_role, s.refresh_hash, s.previous_refresh_hash, s.replacement_sealed, s.revoked_at,
              (s.expires_at <= now() OR s.last_used_at + make_interval(secs => $2) <= now()) AS expired,
              COALESCE(s.rotated_at + make_interval(secs => $3::double precision / 1000) > now(), false) AS in_grace
         FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
        WHERE t.token_hash = $1
        FOR UPDATE OF s`,
      [tokenHash, idleSeconds, graceMs],
    );
    return rows[0];
  }

  /**
   * The common refresh (no explicit transaction): when `tokenHash` is the session's current token
   * and the session is live, rotate it and remember the new hash, in one statement shared with the
   * other refreshes of the same moment (see `rotations`). The UPDATE takes the row lock, so of two
   * concurrent refreshes of one token the second waits, then finds the token no longer current and
   * gets nothing: the caller falls back to `lockByToken`, which sees the rotation (grace period,
   * reuse, expiry).
   */
  async rotateIfCurrent(rotation: Rotation): Promise<RotatedSession | undefined> {
    return (await this.rotations.load(rotation)) ?? undefined;
  }

  private async rotateOne(r: Rotation): Promise<RotatedSession | null> {
    const result: unknown = await runPrepared(this.dataSource, ROTATE_IF_CURRENT, [r.tokenHash, r.newHash, r.sealed, r.idleSeconds]);
    return rowsOf<RotatedSession>(result)[0] ?? null;
  }

  private async rotateMany(batch: readonly Rotation[]): Promise<(RotatedSession | null)[]> {
    const rows = await this.dataSource.query<(RotatedSession & { ord: string })[]>(ROTATE_MANY, [
      batch.map((r) => r.tokenHash),
      batch.map((r) => r.newHash),
      batch.map((r) => r.sealed),
      batch.map((r) => r.idleSeconds),
    ]);
    const byPosition = new Map(rows.map(({ ord, ...session }) => [Number(ord), session]));
    return batch.map((_, i) => byPosition.get(i + 1) ?? null); // WITH ORDINALITY counts from 1
  }

  async rotate(m: EntityManager, sessionId: string, newHash: string, sealed: string): Promise<void> {
    await m.query(
      `UPDATE auth_sessions
          SET previous_refresh_hash = refresh_hash, refresh_hash = $2, rotated_at = now(), replacement_sealed = $3, last_used_at = now()
        WHERE id = $1`,
      [sessionId, newHash, sealed],
    );
    await m.query(`INSERT INTO auth_refresh_tokens (token_hash, session_id) VALUES ($1, $2)`, [newHash, sessionId]);
  }

  async touch(m: EntityManager, sessionId: string): Promise<void> {
    await m.query(`UPDATE auth_sessions SET last_used_at = now() WHERE id = $1`, [sessionId]);
  }

  async revoke(m: EntityManager, sessionId: string, reason: string): Promise<void> {
    await m.query(
      `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2, replacement_sealed = NULL WHERE id = $1 AND revoked_at IS NULL`,
      [sessionId, reason],
    );
  }

  /**
   * Revokes every live session of a user, inside the caller's transaction (AccountChangesService);
   * returns their ids (to refuse their access tokens at once).
   */
  async revokeAllOfUser(m: EntityManager, userId: string, reason: string): Promise<string[]> {
    const result: unknown = await m.query(
      `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2, replacement_sealed = NULL WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`,
      [userId, reason],
    );
    return rowsOf<{ id: string }>(result).map((r) => r.id);
  }

  /**
   * Sessions revoked within the last `windowSeconds` (at most an access token's lifetime), with how
   * long their access tokens can still be alive: what the Redis revocation set must hold (see
   * SessionRevocationStore). Uses ix_auth_sessions_revoked_at.
   */
  async revokedWithin(windowSeconds: number, accessTtlSeconds: number): Promise<{ id: string; ttl_seconds: number }[]> {
    const result: unknown = await this.dataSource.query(
      `SELECT id, ceil(extract(epoch FROM revoked_at + make_interval(secs => $2) - now()))::int AS ttl_seconds
         FROM auth_sessions WHERE revoked_at > now() - make_interval(secs => LEAST($1::double precision, $2::double precision))`,
      [windowSeconds, accessTtlSeconds],
    );
    return rowsOf<{ id: string; ttl_seconds: number }>(result);
  }
}
