import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { AuthSecrets } from '../auth-secrets';
import { rowsOf } from '../sql-rows';
import type { MailContent } from './mail-templates';

/** What is sent: a plaintext row of an earlier release may lack `html`. */
export interface OutboxContent {
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
}

export interface OutboxMail {
  readonly id: string;
  readonly to: string;
  /** Undefined when the sealed content cannot be opened (sealed under another JWT_SECRET). */
  readonly content: OutboxContent | undefined;
  /** Tries so far, this one included (counted when claimed). */
  readonly attempts: number;
  readonly request_id: string | null;
  /** How long ago the mail was queued, when it was claimed (by the database's clock). */
  readonly age_ms: number;
}

/** A claim of `attempts`: settling a mail needs the claim that is still current, not one a lease expiry replaced. */
export type OutboxClaim = Pick<OutboxMail, 'id' | 'attempts'>;

/** A mail given up on without a try: its last claim's lease expired with the tries used up. */
export interface ExhaustedMail {
  readonly id: string;
  readonly attempts: number;
  readonly request_id: string | null;
  readonly last_error: string;
}

interface ClaimedRow {
  readonly id: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  readonly sealed: string | null;
  readonly attempts: number;
  readonly request_id: string | null;
  readonly age_ms: number;
}

/**
 * The lane sealed rows are written to. Workers of the release before sealing claim only their
 * configured lane and read subject/text/html, so during a rolling release they must never claim a
 * sealed row (they would send an empty mail): a lane of its own keeps them away. Workers of this
 * release claim both lanes, so the plaintext rows the earlier release queued are still sent. The
 * suffix uses a character MAIL_OUTBOX_LANE cannot contain, so it never names a configured lane.
 */
export function sealedLane(lane: string): string {
  return `${lane}/sealed`;
}

/** Settled rows keep who, when and why, never the content: a code mail's content is its code. */
const WIPE = `subject = '', text = '', html = NULL, sealed = NULL`;

/**
 * The transactional outbox: a mail is a row written in the same transaction as the signup that
 * needs it, so it is sent if and only if that signup committed, and it survives restarts. The
 * content is stored AES-256-GCM-sealed (a key derived from JWT_SECRET, bound to the row's id and
 * recipient), so the table never holds a usable code, and it is wiped once the mail is settled.
 */
@Injectable()
export class MailOutboxRepository {
  private readonly lane: string;
  private readonly lanes: readonly string[];

  constructor(
    private readonly dataSource: DataSource,
    private readonly secrets: AuthSecrets,
    @InjectConfig() config: AppConfig,
  ) {
    this.lane = sealedLane(config.mail.outboxLane);
    this.lanes = [this.lane, config.mail.outboxLane];
  }

  async enqueue(manager: EntityManager, to: string, mail: MailContent, requestId: string | undefined): Promise<void> {
    const id = randomUUID();
    const sealed = this.secrets.sealMail(JSON.stringify(mail), sealContext(id, to));
    // subject and text are NOT NULL (earlier releases keep the content there): empty, not null.
    await manager.query(
      `INSERT INTO mail_outbox (id, lane, "to", subject, text, html, sealed, request_id) VALUES ($1, $2, $3, '', '', NULL, $4, $5)`,
      [id, this.lane, to, sealed, requestId ?? null],
    );
  }

  /**
   * Claims due mails that have tries left, counting this try. SKIP LOCKED lets every replica drain
   * the outbox without sending a mail twice; a claim is a lease (status `sending`, due again after
   * `leaseMs`), so a mail claimed by a replica that died mid-send is picked up again rather than
   * lost, and since the claim counts the try, only until its tries are used up.
   */
  async claimDue(limit: number, leaseMs: number, maxAttempts: number): Promise<OutboxMail[]> {
    const result: unknown = await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id IN (
          SELECT id FROM mail_outbox
           WHERE lane = ANY($3::text[]) AND status IN ('pending', 'sending') AND next_attempt_at <= now() AND attempts < $4
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING id, "to", subject, text, html, sealed, attempts, request_id,
                  (extract(epoch FROM now() - created_at) * 1000)::double precision AS age_ms`,
      [limit, leaseMs, this.lanes, maxAttempts],
    );
    return rowsOf<ClaimedRow>(result).map((row) => ({
      id: row.id,
      to: row.to,
      content: this.open(row),
      attempts: row.attempts,
      request_id: row.request_id,
      age_ms: row.age_ms,
    }));
  }

  /**
   * Fails the due mails whose tries are used up: their last claim's lease expired without an
   * outcome (the replica died or hung mid-send), and {@link claimDue} no longer takes them.
   */
  async failExhausted(maxAttempts: number, limit: number): Promise<ExhaustedMail[]> {
    const result: unknown = await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'failed', last_error = left(concat_ws('; ', $3::text, last_error), 1000), ${WIPE}
        WHERE id IN (
          SELECT id FROM mail_outbox
           WHERE lane = ANY($1::text[]) AND status IN ('pending', 'sending') AND next_attempt_at <= now() AND attempts >= $2
           LIMIT $4
           FOR UPDATE SKIP LOCKED)
        RETURNING id, attempts, request_id, last_error`,
      [this.lanes, maxAttempts, 'the last try ended without an outcome (lease expired) and the tries are used up', limit],
    );
    return rowsOf<ExhaustedMail>(result);
  }

  /** Sent: whatever became of the claim meanwhile, the mail is out. */
  async markSent(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE mail_outbox SET status = 'sent', sent_at = now(), last_error = NULL, ${WIPE} WHERE id = $1`, [id]);
  }

  async markRetry(claim: OutboxClaim, delayMs: number, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'pending', last_error = $3, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id = $1 AND status = 'sending' AND attempts = $4`,
      [claim.id, delayMs, error, claim.attempts],
    );
  }

  async markFailed(claim: OutboxClaim, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'failed', last_error = $2, ${WIPE} WHERE id = $1 AND status = 'sending' AND attempts = $3`,
      [claim.id, error, claim.attempts],
    );
  }

  /**
   * Hands a claimed mail back unsent (shutdown): due at once, so another replica sends it now
   * rather than when the lease expires, and the interrupted try not counted.
   */
  async release(claim: OutboxClaim): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'pending', attempts = attempts - 1, next_attempt_at = now() WHERE id = $1 AND status = 'sending' AND attempts = $2`,
      [claim.id, claim.attempts],
    );
  }

  /** A sealed row's content, or a plaintext row's as an earlier release wrote it (sealed is null). */
  private open(row: ClaimedRow): OutboxContent | undefined {
    if (row.sealed === null) return { subject: row.subject, text: row.text, html: row.html };
    try {
      const mail = JSON.parse(this.secrets.unsealMail(row.sealed, sealContext(row.id, row.to))) as MailContent;
      return { subject: mail.subject, text: mail.text, html: mail.html };
    } catch {
      return undefined;
    }
  }
}

/** Binds sealed content to its row and recipient: moved to another row or address, it does not open. */
function sealContext(id: string, to: string): string {
  return `mail_outbox:${id}:${to}`;
}
