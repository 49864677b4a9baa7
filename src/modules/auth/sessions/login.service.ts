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
    const [session] = await Promise.all([
      this.sessions.open(this.dataSource.manager, user.id, meta),
      this.limits.recordLoginSuccess(attempt),
    ]);
    // Deleted while its password was being checked: as if it had never existed.
    if (!session) throw authError('invalid_credentials');
    return this.sessions.respond(session.user, session.sessionId, session.refreshToken);
  }

  /**
   * The user when the password is theirs, null for a wrong password or an unknown address.
   * Throws `email_not_confirmed` when the password is the address's newest pending signup's.
   *
   * Where a pending signup exists, two hashes are verified side by side, whether or not the
   * address has an account: the account's and the signup's, or the signup's and the dummy. A
   * signup for a confirmed address is recorded like any other (it holds its username), so whoever
   * signed up with someone's address and password P answers `email_not_confirmed` to a login with
   * P whether or not that address has an account, in the same time. Checking the account's hash
   * alone there would answer `invalid_credentials` only for existing accounts: an enumeration
   * oracle. Without a pending signup every branch verifies exactly one hash.
   */
  private async verify(email: string, password: string): Promise<UserAuthRecord | null> {
    const [user, pending] = await Promise.all([this.users.findAuthRecordByEmail(email), this.pending.latest(undefined, email, false)]);
    if (!pending) {
      if (user) return (await this.hasher.verify(user.passwordHash, password)) ? user : null;
      return this.hasher.verifyDummy(password).then(() => null);
    }
    const [own, signup] = await Promise.all([
      user ? this.hasher.verify(user.passwordHash, password) : this.hasher.verifyDummy(password),
      this.hasher.verify(pending.password_hash, password),
    ]);
    if (own && user) return user;
    // Only someone who knows the signup's password learns that it awaits confirmation.
    if (signup) throw authError('email_not_confirmed');
    return null;
  }
}
