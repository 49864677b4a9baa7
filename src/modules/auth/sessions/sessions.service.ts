import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Role } from '../../../common/auth';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { UsersService, type UserAuthRecord } from '../../users/users.service';
import { AuthSecrets, hashRefreshToken, newRefreshToken } from '../auth-secrets';
import { authError } from '../auth.errors';
import type { TokenResponseDto } from '../dto/token-response.dto';
import type { RequestMeta } from '../request-meta';
import { SessionRevocationStore } from '../session-revocation.store';
import { TokenService } from '../token.service';
import { SessionsRepository, type SessionUser } from './sessions.repository';

type RefreshOutcome =
  | { readonly kind: 'ok'; readonly sessionId: string; readonly user: SessionUser; readonly refreshToken: string }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'revoked'; readonly sessionId: string; readonly userId: string; readonly reason: 'refresh_reuse' | 'expired' };

/**
 * Sessions: opened by verify and login, refreshed with rotating tokens, closed by logout. The
 * database is the source of truth; Redis only holds revocations so every replica's guard
 * refuses a closed session's access tokens at once without a database round trip.
 */
@Injectable()
export class SessionsService {
  private readonly logger = new Logger('Sessions');

  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: SessionsRepository,
    private readonly users: UsersService,
    private readonly secrets: AuthSecrets,
    private readonly tokens: TokenService,
    private readonly revocations: SessionRevocationStore,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Opens a session (one statement); inside the caller's transaction when it has one (verify: user
   * + session commit together). The user as the session records it, its role read as the session
   * opened (not as the caller read it before hashing a password, which can take seconds); null
   * when the user was deleted meanwhile.
   */
  async open(
    m: EntityManager,
    userId: string,
    meta: RequestMeta,
  ): Promise<{ sessionId: string; refreshToken: string; user: Pick<UserAuthRecord, 'id' | 'email' | 'role'> } | null> {
    const refreshToken = newRefreshToken();
    const opened = await this.sessions.insert(m, {
      userId,
      refreshHash: hashRefreshToken(refreshToken),
      maxSeconds: this.config.auth.sessionMaxSeconds,
      userAgent: meta.userAgent,
      ip: meta.ip,
    });
    if (!opened) return null;
    return { sessionId: opened.id, refreshToken, user: { id: opened.user_id, email: opened.user_email, role: opened.user_role } };
  }

  /** A user's role: the stored one, or admin when the address is in ADMIN_EMAILS. */
  roleOf(user: Pick<UserAuthRecord, 'email' | 'role'>): Role {
    return user.role === 'admin' || this.config.auth.adminEmails.includes(user.email) ? 'admin' : 'user';
  }

  respond(user: Pick<UserAuthRecord, 'id' | 'email' | 'role'>, sessionId: string, refreshToken: string): TokenResponseDto {
    const accessToken = this.tokens.issueAccessToken({ userId: user.id, sessionId, role: this.roleOf(user) });
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      expires_in: this.tokens.accessTtlSeconds,
      token_type: 'bearer',
      user: { id: user.id, email: user.email },
    };
  }

  /**
   * Rotates the refresh token. The session row is locked, so concurrent refreshes of one token
   * run one after the other: the first rotates, the others (within the grace period) get the
   * same replacement, unsealed from the row. A rotated token presented after the grace period
   * means two parties hold the session: it is revoked and the event logged. The common case (the
   * current token of a live session) is one statement; everything else takes the slow path.
   */
  async refresh(refreshToken: string, meta: RequestMeta): Promise<TokenResponseDto> {
    const hash = hashRefreshToken(refreshToken);
    const { sessionIdleSeconds, refreshGraceMs } = this.config.auth;
    // A sealed replacement is bound to the token it replaces (the AES-GCM associated data), so it
    // only ever opens for a presenter of that token.
    const next = newRefreshToken();
    const rotated = await this.sessions.rotateIfCurrent({
      tokenHash: hash,
      newHash: hashRefreshToken(next),
      sealed: this.secrets.seal(next, hash),
      idleSeconds: sessionIdleSeconds,
    });
    const outcome: RefreshOutcome = rotated
      ? { kind: 'ok', sessionId: rotated.id, user: rotated, refreshToken: next }
      : await this.refreshSlowPath(hash, next, sessionIdleSeconds, refreshGraceMs);
    return this.finishRefresh(outcome, meta);
  }

  /**
   * Everything but the common case, under the session's row lock: a rotated token within the
   * grace period gets the same replacement; after it, or for an expired session, the session is
   * revoked. (A current token of a live session also lands here when it raced a rotation.)
   */
  private async refreshSlowPath(hash: string, next: string, sessionIdleSeconds: number, refreshGraceMs: number): Promise<RefreshOutcome> {
    return this.dataSource.transaction(async (m): Promise<RefreshOutcome> => {
      const s = await this.sessions.lockByToken(m, hash, sessionIdleSeconds, refreshGraceMs);
      if (!s || s.revoked_at) return { kind: 'invalid' };
      if (s.expired) {
        await this.sessions.revoke(m, s.id, 'expired');
        return { kind: 'revoked', sessionId: s.id, userId: s.user_id, reason: 'expired' };
      }
      if (s.refresh_hash === hash) {
        await this.sessions.rotate(m, s.id, hashRefreshToken(next), this.secrets.seal(next, hash));
        return { kind: 'ok', sessionId: s.id, user: s, refreshToken: next };
      }
      if (s.previous_refresh_hash === hash && s.in_grace && s.replacement_sealed) {
        await this.sessions.touch(m, s.id);
        return { kind: 'ok', sessionId: s.id, user: s, refreshToken: this.secrets.unseal(s.replacement_sealed, hash) };
      }
      await this.sessions.revoke(m, s.id, 'refresh_reuse');
      return { kind: 'revoked', sessionId: s.id, userId: s.user_id, reason: 'refresh_reuse' };
    });
  }

  private async finishRefresh(outcome: RefreshOutcome, meta: RequestMeta): Promise<TokenResponseDto> {
    if (outcome.kind === 'revoked') {
      await this.revocations.revoke(outcome.sessionId, this.tokens.accessTtlSeconds);
      if (outcome.reason === 'refresh_reuse') {
        this.logger.warn(
          {
            event: 'security.refresh_token_reuse',
            session_id: outcome.sessionId,
            user_id: outcome.userId,
            request_id: meta.requestId,
            ip: meta.ip,
            user_agent: meta.userAgent,
          },
          'a rotated refresh token was presented again after the grace period: session revoked',
        );
      }
    }
    if (outcome.kind !== 'ok') throw authError('invalid_refresh_token');
    const { user_id: id, user_email: email, user_role: role } = outcome.user;
    // The session's snapshot of its user; sessions from before the snapshot existed read the user.
    const user = email !== null && role !== null ? { id, email, role } : await this.users.findAuthRecordById(id);
    if (!user) throw authError('invalid_refresh_token');
    return this.respond(user, outcome.sessionId, outcome.refreshToken);
  }

  /** Revokes the session the token (current or rotated) belongs to. Unknown tokens: nothing to do. */
  async logout(refreshToken: string, meta: RequestMeta): Promise<void> {
    const hash = hashRefreshToken(refreshToken);
    const sessionId = await this.dataSource.transaction(async (m) => {
      const s = await this.sessions.lockByToken(m, hash, this.config.auth.sessionIdleSeconds, 0);
      if (!s) return undefined;
      await this.sessions.revoke(m, s.id, 'logout');
      return s.id;
    });
    if (sessionId === undefined) return;
    // Also for an already revoked session: repairs a revocation whose Redis write failed earlier.
    await this.revocations.revoke(sessionId, this.tokens.accessTtlSeconds);
    this.logger.log({ event: 'auth.logout', session_id: sessionId, request_id: meta.requestId }, 'session closed');
  }
}
