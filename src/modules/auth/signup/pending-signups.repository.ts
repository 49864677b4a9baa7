import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { preparedStatement, runPrepared } from '../../../common/database/prepared-statement';

export interface PendingSignupRow {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly password_hash: string;
  readonly code_hmac: Buffer;
  readonly attempts: number;
  readonly locale: string;
  readonly redirect_to: string | null;
  /** Code not expired yet (evaluated by PostgreSQL, one clock for every replica). */
  readonly live: boolean;
}

export interface NewPendingSignup {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly codeHmac: Buffer;
  readonly locale: string;
  readonly redirectTo: string | undefined;
}

const COLUMNS = `id, username, email, password_hash, code_hmac, attempts, locale, redirect_to, code_expires_at > now() AS live`;

// Every login reads the address's newest pending signup (see LoginService): prepared once per connection.
const LATEST_SQL = `SELECT ${COLUMNS} FROM pending_signups WHERE email = $1 AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1`;
const LATEST = preparedStatement(LATEST_SQL);
const LATEST_LOCKED = preparedStatement(`${LATEST_SQL} FOR UPDATE`);

/** The pending_signups table: one row per signup attempt, until its code is used or it expires. */
@Injectable()
export class PendingSignupsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Serializes signups (and resends) claiming one username, case-insensitively, until the
   * transaction ends: of 50 simultaneous signups for a name, exactly one sees it free.
   */
  async lockUsername(m: EntityManager, username: string): Promise<void> {
    await m.query(`SELECT pg_advisory_xact_lock(724311002, hashtext(lower($1)))`, [username]);
  }

  /**
   * Held by an unexpired pending signup, of any address but `exceptEmail` when one is given (resend
   * asks for the address's own signup, which holds its name). A new signup passes none: a second
   * signup claiming a held name answers 409 even from the same address, or anyone who knows a
   * pending user's name and address could have a second code mailed to them, naming the same
   * username, for a password of their own.
   */
  async isUsernameHeld(m: EntityManager | undefined, username: string, exceptEmail: string | null): Promise<boolean> {
    const rows = await (m ?? this.dataSource).query<unknown[]>(
      `SELECT 1 FROM pending_signups
        WHERE lower(username) = lower($1) AND consumed_at IS NULL AND code_expires_at > now() AND ($2::text IS NULL OR email <> $2)
        LIMIT 1`,
      [username, exceptEmail],
    );
    return rows.length > 0;
  }

  async insert(m: EntityManager, p: NewPendingSignup, ttlSeconds: number): Promise<void> {
    await m.query(
      `INSERT INTO pending_signups (id, username, email, password_hash, code_hmac, code_expires_at, locale, redirect_to)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7, $8)`,
      [p.id, p.username, p.email, p.passwordHash, p.codeHmac, ttlSeconds, p.locale, p.redirectTo ?? null],
    );
  }

  /** The newest unconsumed signup of an address (expired or not), locked when `m` is a transaction. */
  async latest(m: EntityManager | undefined, email: string, lock: boolean): Promise<PendingSignupRow | undefined> {
    const rows = await runPrepared<PendingSignupRow[]>(m ?? this.dataSource, lock ? LATEST_LOCKED : LATEST, [email]);
    return rows[0];
  }

  /** Every unconsumed signup of an address, locked: verify decides among them in one transaction. */
  async lockAllOf(m: EntityManager, email: string): Promise<PendingSignupRow[]> {
    return await m.query<PendingSignupRow[]>(
      `SELECT ${COLUMNS} FROM pending_signups WHERE email = $1 AND consumed_at IS NULL ORDER BY created_at DESC FOR UPDATE`,
      [email],
    );
  }

  async replaceCode(m: EntityManager, id: string, codeHmac: Buffer, ttlSeconds: number): Promise<void> {
    await m.query(
      `UPDATE pending_signups SET code_hmac = $2, code_expires_at = now() + make_interval(secs => $3), attempts = 0 WHERE id = $1`,
      [id, codeHmac, ttlSeconds],
    );
  }

  /** One wrong try against each still-usable code of the address; a code dies at `max`. */
  async countWrongTry(m: EntityManager, ids: readonly string[], max: number): Promise<void> {
    if (ids.length === 0) return;
    await m.query(`UPDATE pending_signups SET attempts = attempts + 1 WHERE id = ANY($1::uuid[]) AND attempts < $2`, [ids, max]);
  }

  /** Marks every open signup of the address used: the verified one and its now-pointless siblings. */
  async consumeAllOf(m: EntityManager, email: string): Promise<void> {
    await m.query(`UPDATE pending_signups SET consumed_at = now() WHERE email = $1 AND consumed_at IS NULL`, [email]);
  }
}
