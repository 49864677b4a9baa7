import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { MailOutboxRepository, type OutboxMail } from './mail-outbox.repository';
import { nextRetryMs } from './mail-retry-policy';
import { MailTransport, type SendOutcome } from './mail-transport';

/** Mails in flight at once on this replica: one slow SMTP conversation holds one slot, not the worker. */
const MAX_IN_FLIGHT = 20;
/**
 * A claimed mail not settled within this time is claimed again (its replica presumably died).
 * Above MAIL_SEND_TIMEOUT_MS (at most 60 s), so a live replica always settles its claim first.
 */
const LEASE_MS = 120_000;
/**
 * On shutdown, sends in flight may still finish within this share of SHUTDOWN_TIMEOUT_MS (3 s of
 * the default 10 s), counted from the start of the shutdown alongside the HTTP drain; the rest of
 * the budget is for handing the unfinished ones back and closing PostgreSQL and Redis.
 */
const SHUTDOWN_SEND_SHARE = 0.3;
const EXHAUSTED_BATCH = 100;

interface InFlight {
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

/**
 * Drains the mail outbox in the background, off the request path: woken right after a signup
 * commits and otherwise every `MAIL_POLL_INTERVAL_MS`. Each mail is sent on its own (up to
 * MAX_IN_FLIGHT at once) within `MAIL_SEND_TIMEOUT_MS`. Transient SMTP failures (authentication
 * refusals included) are retried with capped exponential backoff while the code in the mail is
 * valid (mail-retry-policy.ts); every failure is logged with the originating request id, and a
 * mail that finally fails stays in the table as `failed` (never lost silently).
 */
@Injectable()
export class MailWorker implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('MailWorker');
  private readonly inFlight = new Map<string, InFlight>();
  private timer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** The last pass had no room for every due mail: a finished send starts the next pass. */
  private backlog = false;
  private sweepDue = false;
  private stopped = false;
  /** Set while passes keep failing (PostgreSQL unreachable): when the streak began and how long it is. */
  private failing: { since: number; passes: number } | undefined;

  constructor(
    private readonly outbox: MailOutboxRepository,
    private readonly transport: MailTransport,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  /**
   * Shutdown begins: nothing new is claimed. Sends in flight get a bounded grace, then are
   * aborted and handed back (due at once, for another replica), so the process exits within
   * SHUTDOWN_TIMEOUT_MS and no mail waits for the lease to expire.
   */
  beforeApplicationShutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    const graceMs = Math.min(this.config.mail.sendTimeoutMs, this.config.http.shutdownTimeoutMs * SHUTDOWN_SEND_SHARE);
    this.graceTimer = setTimeout(() => {
      for (const send of this.inFlight.values()) send.abort.abort();
    }, graceMs);
    this.graceTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.beforeApplicationShutdown();
    await this.running;
    await Promise.all([...this.inFlight.values()].map((send) => send.done));
    clearTimeout(this.graceTimer);
  }

  /** Runs a pass now (or right after the current one). Never throws. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .then(
        () => this.recovered(),
        (error: unknown) => this.failed(error),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * A pass that failed. Only the first failure of a streak is an error line: while PostgreSQL is
   * down every poll fails the same way, and a line per poll (every MAIL_POLL_INTERVAL_MS, per
   * replica) would page on-call hundreds of times an hour for one outage.
   */
  private failed(error: unknown): void {
    this.failing ??= { since: Date.now(), passes: 0 };
    if (this.failing.passes++ === 0) {
      this.logger.error({ err: error, event: 'mail.worker_failed' }, 'mail worker pass failed; retrying quietly until one succeeds');
    }
  }

  private recovered(): void {
    if (!this.failing) return;
    const { since, passes } = this.failing;
    this.failing = undefined;
    this.logger.log(
      { event: 'mail.worker_recovered', failed_passes: passes, failing_ms: Date.now() - since },
      'mail worker passes succeed again',
    );
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // Expired leases are found late anyway: the sweep rides on the timer, not on every signup's kick.
      this.sweepDue = true;
      this.kick();
      this.schedule();
    }, this.config.mail.pollIntervalMs);
    this.timer.unref();
  }

  /** Claims what fits beside the sends in flight and starts each send without waiting for it. */
  private async pass(): Promise<void> {
    const { maxAttempts } = this.config.mail;
    if (this.sweepDue) {
      this.sweepDue = false;
      await this.failExhausted(maxAttempts);
    }
    const room = MAX_IN_FLIGHT - this.inFlight.size;
    this.backlog = room <= 0;
    if (this.stopped || room <= 0) return;
    const batch = await this.outbox.claimDue(room, LEASE_MS, maxAttempts);
    if (this.stopped) {
      // Shutdown began while claiming: not started, so handed straight back.
      await Promise.all(batch.map((mail) => this.outbox.release(mail)));
      return;
    }
    this.backlog = batch.length === room;
    for (const mail of batch) this.start(mail);
  }

  private start(mail: OutboxMail): void {
    const abort = new AbortController();
    const done = this.deliver(mail, abort.signal)
      .catch((error: unknown) =>
        this.logger.error(
          { err: error, event: 'mail.bookkeeping_failed', mail_id: mail.id },
          'mail delivery bookkeeping failed; the lease will retry it',
        ),
      )
      .finally(() => {
        this.inFlight.delete(mail.id);
        if (this.backlog) this.kick();
      });
    this.inFlight.set(mail.id, { abort, done });
  }

  private async failExhausted(maxAttempts: number): Promise<void> {
    for (const mail of await this.outbox.failExhausted(maxAttempts, EXHAUSTED_BATCH)) {
      this.logger.error(
        {
          event: 'mail.send_failed',
          mail_id: mail.id,
          request_id: mail.request_id,
          attempt: mail.attempts,
          error: mail.last_error,
          final: true,
        },
        'mail could not be delivered; giving up',
      );
    }
  }

  private async deliver(mail: OutboxMail, signal: AbortSignal): Promise<void> {
    const startedAt = Date.now();
    const outcome: SendOutcome = mail.content
      ? await this.transport.send(mail, mail.content, signal)
      : // Sealed under another key: JWT_SECRET changed since it was queued. No retry can open it
        // (and the codes of that time died with the old secret anyway).
        { ok: false, kind: 'permanent', error: 'sealed content cannot be opened (JWT_SECRET changed since the mail was queued?)' };
    if (outcome.ok) {
      await this.outbox.markSent(mail.id);
      return;
    }
    const context = { mail_id: mail.id, request_id: mail.request_id, attempt: mail.attempts, error: outcome.error };
    if (outcome.kind === 'aborted') {
      await this.outbox.release(mail);
      this.logger.warn(
        { ...context, event: 'mail.send_interrupted' },
        'shutdown interrupted a mail delivery; handed back to be sent at once',
      );
      return;
    }
    const retryInMs =
      outcome.kind === 'permanent' ? undefined : nextRetryMs(this.config.mail, mail.attempts, mail.age_ms + (Date.now() - startedAt));
    if (outcome.kind === 'auth') {
      // Every queued mail fails the same way until SMTP_URL's credentials are fixed: worth an alert.
      this.logger.error(
        { ...context, event: 'mail.smtp_auth_failed', retry_in_ms: retryInMs ?? null },
        'the SMTP server refused authentication (check the credentials in SMTP_URL)',
      );
    }
    if (retryInMs === undefined) {
      await this.outbox.markFailed(mail, outcome.error);
      this.logger.error({ ...context, event: 'mail.send_failed', final: true }, 'mail could not be delivered; giving up');
      return;
    }
    await this.outbox.markRetry(mail, retryInMs, outcome.error);
    if (outcome.kind !== 'auth') {
      this.logger.warn({ ...context, event: 'mail.send_failed', retry_in_ms: retryInMs }, 'mail delivery failed; will retry');
    }
  }
}
