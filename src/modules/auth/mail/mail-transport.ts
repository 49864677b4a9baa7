import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { InjectConfig, type AppConfig } from '../../../common/config';
import type { OutboxContent, OutboxMail } from './mail-outbox.repository';

export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly permanent: boolean; readonly error: string };

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
      this.transporter = createTransport({ url, secure, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 });
    }
  }

  async send(mail: Pick<OutboxMail, 'to' | 'request_id'>, content: OutboxContent): Promise<SendOutcome> {
    if (!this.transporter) {
      this.logger.warn(
        { event: 'mail.logged', request_id: mail.request_id, to: mail.to, subject: content.subject, text: content.text },
        'SMTP_URL is not set: mail written to the log instead of sent',
      );
      return { ok: true };
    }
    try {
      await this.transporter.sendMail({
        from: this.config.mail.from,
        to: mail.to,
        subject: content.subject,
        text: content.text,
        html: content.html ?? undefined,
      });
      return { ok: true };
    } catch (error) {
      const responseCode = (error as { responseCode?: unknown }).responseCode;
      // 5xx is the server's final answer (bad address, refused); everything else (4xx, network, timeouts) may pass later.
      const permanent = typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600;
      return { ok: false, permanent, error: error instanceof Error ? error.message.slice(0, 500) : String(error) };
    }
  }

  onApplicationShutdown(): void {
    this.transporter?.close();
  }
}
