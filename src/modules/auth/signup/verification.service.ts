import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { DomainError } from '../../../common/errors/domain-error';
import { UsersService, type UserAuthRecord } from '../../users/users.service';
import { AuthSecrets } from '../auth-secrets';
import { authError } from '../auth.errors';
import type { TokenResponseDto } from '../dto/token-response.dto';
import type { RequestMeta } from '../request-meta';
import { SessionsService } from '../sessions/sessions.service';
import { PendingSignupsRepository } from './pending-signups.repository';
import { normalizeEmail } from '../../users/user-fields';

type VerifyOutcome =
  { readonly user: Pick<UserAuthRecord, 'id' | 'email' | 'role'>; readonly sessionId: string; readonly refreshToken: string } | undefined;

/**
 * Verify: in one transaction, lock the address's open signups, find the one whose code matches
 * (each code is an HMAC bound to its own signup, so it sets that signup's password and no
 * other), consume them, create the confirmed user and open the session. Two concurrent verifies
 * of one code queue on the row locks; the second finds nothing open: exactly one 200.
 */
@Injectable()
export class VerificationService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly pending: PendingSignupsRepository,
    private readonly users: UsersService,
    private readonly secrets: AuthSecrets,
    private readonly sessions: SessionsService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async verify(rawEmail: string, code: string, meta: RequestMeta): Promise<TokenResponseDto> {
    const email = normalizeEmail(rawEmail);
    const max = this.config.auth.codeMaxAttempts;
    let outcome: VerifyOutcome;
    try {
      outcome = await this.dataSource.transaction(async (m): Promise<VerifyOutcome> => {
        const rows = await this.pending.lockAllOf(m, email);
        const usable = rows.filter((r) => r.live && r.attempts < max);
        // Every usable code is compared (constant-time each), so timing does not reveal which matched.
        const matches = usable.map((r) => this.secrets.codeMatches(r.id, code, r.code_hmac));
        const match = usable[matches.indexOf(true)];
        if (!match) {
          // A wrong guess costs a try on every code of the address: 5 guesses per code, however many signups.
          await this.pending.countWrongTry(
            m,
            usable.map((r) => r.id),
            max,
          );
          return undefined;
        }
        await this.pending.consumeAllOf(m, email);
        // Stored as user even for an address in ADMIN_EMAILS: the list is applied whenever a token
        // is signed (SessionsService.roleOf), so taking an address off it demotes at the next
        // refresh or login. A stored admin is one granted through the CLI.
        const user = await this.users.createConfirmedUser(m, {
          username: match.username,
          email,
          passwordHash: match.password_hash,
          role: 'user',
        });
        const session = await this.sessions.open(m, user.id, meta);
        // The row was inserted in this very transaction.
        if (!session) throw new Error('a user created in this transaction was not found');
        return session;
      });
    } catch (error) {
      // The address got confirmed by another signup meanwhile: this code is dead.
      if (error instanceof DomainError && error.code === 'email_taken') throw authError('invalid_otp');
      throw error;
    }
    if (!outcome) throw authError('invalid_otp');
    return this.sessions.respond(outcome.user, outcome.sessionId, outcome.refreshToken);
  }
}
