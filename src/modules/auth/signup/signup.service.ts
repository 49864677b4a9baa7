import { Injectable } from '@nestjs/common';
import { normalizeEmail } from '../../users/user-fields';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { commonError } from '../../../common/errors/common-errors';
import { msg } from '../../../common/http/validation';
import type { Locale } from '../../../common/i18n/locale';
import { UsersService } from '../../users/users.service';
import { AuthLimits } from '../auth-limits.service';
import { AuthSecrets } from '../auth-secrets';
import { authError } from '../auth.errors';
import { MailOutboxRepository } from '../mail/mail-outbox.repository';
import { alreadyRegisteredMail, codeMail } from '../mail/mail-templates';
import { MailWorker } from '../mail/mail-worker.service';
import { PasswordHasher } from '../password-hasher';
import type { RequestMeta } from '../request-meta';
import { PendingSignupsRepository, type PendingSignupRow } from './pending-signups.repository';

export interface SignupInput {
  readonly username: string;
  readonly email: string;
  readonly password: string;
  readonly redirectTo?: string;
}

/**
 * Signup and resend. Both answer the same whatever the address's state (unknown, pending,
 * confirmed): same status and body, the same expensive work (argon2 runs on every signup), the
 * same per-address mail budget, and mail leaves through the outbox after the response.
 */
@Injectable()
export class SignupService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly pending: PendingSignupsRepository,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly secrets: AuthSecrets,
    private readonly limits: AuthLimits,
    private readonly outbox: MailOutboxRepository,
    private readonly worker: MailWorker,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async signUp(input: SignupInput, meta: RequestMeta): Promise<{ email: string }> {
    const email = normalizeEmail(input.email);
    this.redirectLink(input.redirectTo, email); // 422 before any work
    const passwordHash = await this.hasher.hash(input.password);
    // Cheap answer for the common case, without holding a pooled connection on the lock below.
    await this.assertUsernameFree(undefined, input.username);
    await this.dataSource.transaction(async (m) => {
      // The decisive check: serialized per username, so of many simultaneous claims one wins.
      await this.pending.lockUsername(m, input.username);
      await this.assertUsernameFree(m, input.username);
      await this.limits.consumeMail(email);
      const confirmed = (await this.users.findAuthRecordByEmail(email, m)) !== null;
      const id = randomUUID();
      const code = this.secrets.newCode();
      // A confirmed address gets a pending row too, or its signup would leave the username free
      // where any other address's holds it for 10 minutes, and a second signup claiming that name
      // would tell which addresses have accounts. It is built like any other (the submitted
      // password's argon2id hash included), but its code HMAC matches no code and none is mailed:
      // verify cannot confirm it, resend mails nothing for a confirmed address, and housekeeping
      // deletes it like any other expired signup.
      await this.pending.insert(
        m,
        {
          id,
          username: input.username,
          email,
          passwordHash,
          codeHmac: confirmed ? this.secrets.unmatchableCodeHmac() : this.secrets.codeHmac(id, code),
          locale: meta.locale,
          redirectTo: input.redirectTo,
        },
        this.config.auth.codeTtlSeconds,
      );
      if (confirmed) {
        await this.outbox.enqueue(m, email, alreadyRegisteredMail(meta.locale), meta.requestId);
        return;
      }
      await this.enqueueCode(
        m,
        { username: input.username, email, locale: meta.locale, redirect_to: input.redirectTo ?? null },
        code,
        meta,
      );
    });
    this.worker.kick();
    return { email };
  }

  /** CONTRACT.md: taken when a confirmed user or any unexpired pending signup holds it (the same address's included). */
  private async assertUsernameFree(m: EntityManager | undefined, username: string): Promise<void> {
    if ((await this.users.isUsernameTaken(username, m)) || (await this.pending.isUsernameHeld(m, username, null)))
      throw authError('username_taken');
  }

  /** A fresh code for the newest pending signup of the address; the previous code dies. */
  async resend(rawEmail: string, meta: RequestMeta): Promise<void> {
    const email = normalizeEmail(rawEmail);
    await this.limits.consumeMail(email);
    await this.dataSource.transaction(async (m) => {
      const latest = await this.pending.latest(m, email, true);
      if (!latest || (await this.users.findAuthRecordByEmail(email, m))) return;
      await this.pending.lockUsername(m, latest.username);
      if ((await this.users.isUsernameTaken(latest.username, m)) || (await this.pending.isUsernameHeld(m, latest.username, email))) return;
      const code = this.secrets.newCode();
      await this.pending.replaceCode(m, latest.id, this.secrets.codeHmac(latest.id, code), this.config.auth.codeTtlSeconds);
      await this.enqueueCode(m, latest, code, meta);
    });
    this.worker.kick();
  }

  private async enqueueCode(
    m: EntityManager,
    p: Pick<PendingSignupRow, 'username' | 'email' | 'locale' | 'redirect_to'>,
    code: string,
    meta: RequestMeta,
  ): Promise<void> {
    const locale: Locale = p.locale === 'en' ? 'en' : 'zh-CN';
    const mail = codeMail(locale, {
      username: p.username,
      code,
      minutes: Math.round(this.config.auth.codeTtlSeconds / 60),
      link: this.redirectLink(p.redirect_to ?? undefined, p.email),
    });
    await this.outbox.enqueue(m, p.email, mail, meta.requestId);
  }

  /** `redirect_to` must be an absolute http(s) URL on an allow-listed origin; the link carries `?email=`. */
  private redirectLink(redirectTo: string | undefined, email: string): string | undefined {
    if (redirectTo === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(redirectTo);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || !this.config.auth.redirectAllowlist.includes(url.origin)) {
      throw commonError('validation_failed', {
        errors: [
          {
            field: 'redirect_to',
            message: msg('必须是允许的跳转地址(REDIRECT_ALLOWLIST)', 'must be an absolute URL on an allowed origin (REDIRECT_ALLOWLIST)'),
          },
        ],
      });
    }
    url.searchParams.set('email', email);
    return url.toString();
  }
}
