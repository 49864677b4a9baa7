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
  readonly attempts: number;
  readonly request_id: string | null;
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
   * Claims due mails. SKIP LOCKED lets every replica drain the outbox without sending a mail
   * twice; a claim is a lease (status `sending`, due again after `leaseMs`), so a mail claimed by
   * a replica that died mid-send is picked up again rather than lost.
   */
  async claimDue(limit: number, leaseMs: number): Promise<OutboxMail[]> {
    const result: unknown = await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id IN (
          SELECT id FROM mail_outbox
           WHERE lane = ANY($3::text[]) AND status IN ('pending', 'sending') AND next_attempt_at <= now()
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING id, "to", subject, text, html, sealed, attempts, request_id`,
      [limit, leaseMs, this.lanes],
    );
    return rowsOf<ClaimedRow>(result).map((row) => ({
      id: row.id,
      to: row.to,
      content: this.open(row),
      attempts: row.attempts,
      request_id: row.request_id,
    }));
  }

  async markSent(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE mail_outbox SET status = 'sent', sent_at = now(), last_error = NULL, ${WIPE} WHERE id = $1`, [id]);
  }

  async markRetry(id: string, delayMs: number, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'pending', last_error = $3, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000) WHERE id = $1`,
      [id, delayMs, error],
    );
  }

  async markFailed(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE mail_outbox SET status = 'failed', last_error = $2, ${WIPE} WHERE id = $1`, [id, error]);
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
