import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { MailOutboxRepository, type OutboxMail } from './mail-outbox.repository';
import { MailTransport, type SendOutcome } from './mail-transport';

const BATCH = 20;
/** A claimed mail not settled within this time is claimed again (its replica presumably died). */
const LEASE_MS = 120_000;

/**
 * Drains the mail outbox in the background, off the request path: woken right after a signup
 * commits and otherwise every `MAIL_POLL_INTERVAL_MS`. Transient SMTP failures are retried with
 * exponential backoff up to `maxAttempts`; every failure is logged with the originating request
 * id, and a mail that finally fails stays in the table as `failed` (never lost silently).
 */
@Injectable()
export class MailWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('MailWorker');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly outbox: MailOutboxRepository,
    private readonly transport: MailTransport,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Runs a pass now (or right after the current one). Never throws. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error: unknown) => this.logger.error({ err: error, event: 'mail.worker_failed' }, 'mail worker pass failed; retrying later'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.kick();
      this.schedule();
    }, this.config.mail.pollIntervalMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const batch = await this.outbox.claimDue(BATCH, LEASE_MS);
      if (batch.length === 0) return;
      await Promise.all(batch.map((mail) => this.deliver(mail)));
    }
  }

  private async deliver(mail: OutboxMail): Promise<void> {
    const outcome: SendOutcome = mail.content
      ? await this.transport.send(mail, mail.content)
      : // Sealed under another key: JWT_SECRET changed since it was queued. No retry can open it
        // (and the codes of that time died with the old secret anyway).
        { ok: false, permanent: true, error: 'sealed content cannot be opened (JWT_SECRET changed since the mail was queued?)' };
    if (outcome.ok) {
      await this.outbox.markSent(mail.id);
      return;
    }
    const { maxAttempts, retryBaseMs } = this.config.mail;
    const context = {
      event: 'mail.send_failed',
      mail_id: mail.id,
      request_id: mail.request_id,
      attempt: mail.attempts,
      error: outcome.error,
    };
    if (outcome.permanent || mail.attempts >= maxAttempts) {
      await this.outbox.markFailed(mail.id, outcome.error);
      this.logger.error({ ...context, final: true }, 'mail could not be delivered; giving up');
      return;
    }
    const delay = retryBaseMs * 2 ** (mail.attempts - 1);
    await this.outbox.markRetry(mail.id, delay, outcome.error);
    this.logger.warn({ ...context, retry_in_ms: delay }, 'mail delivery failed; will retry');
  }
}
