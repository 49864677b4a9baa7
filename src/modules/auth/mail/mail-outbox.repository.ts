import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { rowsOf } from '../sql-rows';
import type { MailContent } from './mail-templates';

export interface OutboxMail {
  readonly id: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  readonly attempts: number;
  readonly request_id: string | null;
}

/**
 * The transactional outbox: a mail is a row written in the same transaction as the signup that
 * needs it, so it is sent if and only if that signup committed, and it survives restarts.
 */
@Injectable()
export class MailOutboxRepository {
  private readonly lane: string;

  constructor(
    private readonly dataSource: DataSource,
    @InjectConfig() config: AppConfig,
  ) {
    this.lane = config.mail.outboxLane;
  }

  async enqueue(manager: EntityManager, to: string, mail: MailContent, requestId: string | undefined): Promise<void> {
    await manager.query(`INSERT INTO mail_outbox (lane, "to", subject, text, html, request_id) VALUES ($6, $1, $2, $3, $4, $5)`, [
      to,
      mail.subject,
      mail.text,
      mail.html,
      requestId ?? null,
      this.lane,
    ]);
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
           WHERE lane = $3 AND status IN ('pending', 'sending') AND next_attempt_at <= now()
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING id, "to", subject, text, html, attempts, request_id`,
      [limit, leaseMs, this.lane],
    );
    return rowsOf<OutboxMail>(result);
  }

  async markSent(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE mail_outbox SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1`, [id]);
  }

  async markRetry(id: string, delayMs: number, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'pending', last_error = $3, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000) WHERE id = $1`,
      [id, delayMs, error],
    );
  }

  async markFailed(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE mail_outbox SET status = 'failed', last_error = $2 WHERE id = $1`, [id, error]);
  }
}
