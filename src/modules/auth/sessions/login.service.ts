import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { UsersService } from '../../users/users.service';
import { AuthLimits } from '../auth-limits.service';
import { authError } from '../auth.errors';
import type { TokenResponseDto } from '../dto/token-response.dto';
import { PasswordHasher } from '../password-hasher';
import type { RequestMeta } from '../request-meta';
import { PendingSignupsRepository } from '../signup/pending-signups.repository';
import { normalizeEmail } from '../../users/user-fields';
import { SessionsService } from './sessions.service';

/**
 * Login. Every branch does the same work (both look-ups, exactly one argon2 verification: the
 * user's hash, the newest pending signup's, or a dummy one), so unknown emails and wrong
 * passwords answer alike in status, body and time.
 */
@Injectable()
export class LoginService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly pending: PendingSignupsRepository,
    private readonly hasher: PasswordHasher,
    private readonly limits: AuthLimits,
    private readonly sessions: SessionsService,
  ) {}

  async login(rawEmail: string, password: string, meta: RequestMeta): Promise<TokenResponseDto> {
    const email = normalizeEmail(rawEmail);
    const { failuresOnRecord } = await this.limits.assertLoginAllowed(email);
    const [user, pending] = await Promise.all([this.users.findAuthRecordByEmail(email), this.pending.latest(undefined, email, false)]);
    if (user) {
      if (await this.hasher.verify(user.passwordHash, password)) {
        // A failure recorded after the check above stays until the next success: it can only
        // make backoff start one failure sooner, never later.
        if (failuresOnRecord) await this.limits.clearLoginFailures(email);
        // One statement: no transaction needed around it.
        const session = await this.sessions.open(this.dataSource.manager, user, meta);
        return this.sessions.respond(user, session.sessionId, session.refreshToken);
      }
    } else if (pending) {
      // Only someone who knows the password learns that the address awaits confirmation.
      if (await this.hasher.verify(pending.password_hash, password)) throw authError('email_not_confirmed');
    } else {
      await this.hasher.verifyDummy(password);
    }
    await this.limits.recordLoginFailure(email);
    throw authError('invalid_credentials');
  }
}
