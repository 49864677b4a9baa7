import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { UsersService, type UserAuthRecord } from '../../users/users.service';
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
    // Counted before hashing: a check here with the failure counted only after the hash (which
    // can wait seconds for a hash slot) let concurrent guesses all pass the check.
    const attempt = await this.limits.startLoginAttempt(email);
    let user: UserAuthRecord | null;
    try {
      user = await this.verify(email, password);
    } catch (error) {
      // No verdict on the password (unconfirmed address, hash queue full, a dependency down):
      // nothing to count. If Redis is what failed, the slot frees itself after its hold time;
      // the caller gets the original error either way.
      await this.limits.releaseLoginAttempt(attempt).catch(() => undefined);
      throw error;
    }
    if (!user) {
      await this.limits.recordLoginFailure(attempt);
      throw authError('invalid_credentials');
    }
    // One statement: no transaction needed around it. Redis is settled meanwhile, not after.
    const [session] = await Promise.all([this.sessions.open(this.dataSource.manager, user, meta), this.limits.recordLoginSuccess(attempt)]);
    return this.sessions.respond(user, session.sessionId, session.refreshToken);
  }

  /** The user when the password is theirs, null for a wrong password or an unknown address. */
  private async verify(email: string, password: string): Promise<UserAuthRecord | null> {
    const [user, pending] = await Promise.all([this.users.findAuthRecordByEmail(email), this.pending.latest(undefined, email, false)]);
    if (user) return (await this.hasher.verify(user.passwordHash, password)) ? user : null;
    if (pending) {
      // Only someone who knows the password learns that the address awaits confirmation.
      if (await this.hasher.verify(pending.password_hash, password)) throw authError('email_not_confirmed');
      return null;
    }
    await this.hasher.verifyDummy(password);
    return null;
  }
}
