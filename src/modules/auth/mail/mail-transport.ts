import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { InjectConfig, type AppConfig } from '../../../common/config';
import type { OutboxContent, OutboxMail } from './mail-outbox.repository';

/**
 * - `transient`: may pass later (4xx, network, the send deadline): retried with backoff.
 * - `auth`: the server refused our credentials (454, 530, 535): retried like `transient`, since an
 *   operator fixing SMTP_URL must not find every queued mail failed, but worth an alert.
 * - `permanent`: the server's final answer (5xx: bad address, refused): not retried.
 * - `aborted`: the caller's signal ended the send (shutdown); nothing is known about the mail.
 */
export type FailureKind = 'transient' | 'auth' | 'permanent' | 'aborted';

export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly kind: FailureKind; readonly error: string };

/** SMTP replies about authentication: temporary failure (454), required (530), credentials invalid (535). */
const AUTH_REPLY_CODES: ReadonlySet<number> = new Set([454, 530, 535]);

/**
 * Delivers one mail over SMTP_URL (nodemailer). Without SMTP_URL (never in production: the
 * config refuses it) the mail, code included, is written to the log so development needs no
 * mail server.
 */
@Injectable()
export class MailTransport implements OnApplicationShutdown {
  private readonly logger = new Logger('Mail');
  private readonly transporter: Transporter | undefined;

  constructor(@InjectConfig() private readonly config: AppConfig) {
    const url = config.mail.smtpUrl;
    if (url) {
      const secure = new URL(url).protocol === 'smtps:';
      // Plain smtp:// is used as given (STARTTLS when the server offers it); smtps:// is TLS from the start.
      // socketTimeout only fires when the socket is idle: a server trickling bytes keeps a conversation
      // alive past it, hence the overall deadline in send(). socketCloseTimeout 0: a closed conversation's
      // socket is destroyed at once rather than half-closed while a stuck server keeps writing (after the
      // final 250 nothing is left to say anyway; nodemailer does not send QUIT on a one-off connection).
      this.transporter = createTransport({
        url,
        secure,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
        socketCloseTimeout: 0,
      });
    }
  }

  /**
   * Sends one mail within `MAIL_SEND_TIMEOUT_MS` from connect to the final reply; past that the
   * connection is destroyed and the try counts as a transient failure. `signal` aborts the send
   * from outside (shutdown): the outcome is then `aborted`.
   */
  async send(mail: Pick<OutboxMail, 'to' | 'request_id'>, content: OutboxContent, signal: AbortSignal): Promise<SendOutcome> {
    if (!this.transporter) {
      this.logger.warn(
        { event: 'mail.logged', request_id: mail.request_id, to: mail.to, subject: content.subject, text: content.text },
        'SMTP_URL is not set: mail written to the log instead of sent',
      );
      return { ok: true };
    }
    const timeoutMs = this.config.mail.sendTimeoutMs;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      // nodemailer closes the connection when the signal aborts (per-send AbortSignal since nodemailer
      // 10.5: https://github.com/nodemailer/nodemailer/issues/1910).
      await this.transporter.sendMail({
        from: this.config.mail.from,
        to: mail.to,
        subject: content.subject,
        text: content.text,
        html: content.html ?? undefined,
        signal: AbortSignal.any([signal, deadline.signal]),
      });
      return { ok: true };
    } catch (error) {
      if (signal.aborted) return { ok: false, kind: 'aborted', error: 'interrupted by shutdown' };
      if (deadline.signal.aborted) {
        return { ok: false, kind: 'transient', error: `SMTP conversation did not finish within ${timeoutMs} ms; connection closed` };
      }
      return { ok: false, kind: failureKind(error), error: error instanceof Error ? error.message.slice(0, 500) : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  onApplicationShutdown(): void {
    this.transporter?.close();
  }
}

function failureKind(error: unknown): FailureKind {
  const { responseCode, code } = error as { responseCode?: unknown; code?: unknown };
  // EAUTH without a reply code: nodemailer refused to try (e.g. credentials missing for the mechanism).
  if ((typeof responseCode === 'number' && AUTH_REPLY_CODES.has(responseCode)) || (responseCode === undefined && code === 'EAUTH'))
    return 'auth';
  return typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600 ? 'permanent' : 'transient';
}
