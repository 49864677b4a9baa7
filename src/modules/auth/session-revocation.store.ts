import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable, Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { InjectConfig, type AppConfig } from '../../common/config';
import { SessionsRepository } from './sessions/sessions.repository';

/**
 * Revoked session ids, in Redis so every replica refuses a revoked session's access tokens at
 * once. An entry only needs to outlive the longest access token it can still match.
 *
 * PostgreSQL stays the record (auth_sessions.revoked_at is written first), Redis the fast copy.
 * A Redis that lost its data (a restart without persistence, a flush, a fresh instance) would
 * otherwise let revoked sessions' access tokens back in until they expire. A marker key, written
 * only after the set was complete, tells: every check reads it with the session's key in one
 * MGET (the same single round trip as before), and when it is missing the set is first restored
 * from PostgreSQL (sessions revoked within an access token's lifetime). If that fails, the check
 * fails (503): it is never skipped.
 */
@Injectable()
export class SessionRevocationStore {
  private readonly logger = new Logger(SessionRevocationStore.name);
  private restoring: Promise<void> | undefined;

  constructor(
    @InjectRedis() private readonly redis: Redis,
    private readonly sessions: SessionsRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async revoke(sessionId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(key(sessionId), '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)));
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    const [revoked, complete] = await this.redis.mget(key(sessionId), COMPLETE);
    if (revoked !== null) return true;
    if (complete !== null) return false;
    await this.restore();
    return (await this.redis.exists(key(sessionId))) === 1;
  }

  /** One restore at a time per process; replicas racing each other write the same keys. */
  private restore(): Promise<void> {
    this.restoring ??= this.restoreFromDatabase().finally(() => (this.restoring = undefined));
    return this.restoring;
  }

  private async restoreFromDatabase(): Promise<void> {
    const revoked = await this.sessions.revokedWithin(this.config.jwt.accessTtlSeconds);
    for (let i = 0; i < revoked.length; i += RESTORE_BATCH) {
      const batch = this.redis.pipeline();
      for (const r of revoked.slice(i, i + RESTORE_BATCH)) batch.set(key(r.id), '1', 'EX', Math.max(1, r.ttl_seconds));
      for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
    }
    await this.redis.set(COMPLETE, new Date().toISOString());
    this.logger.warn(
      { event: 'auth.revocations_restored', sessions: revoked.length },
      'the Redis revocation set was missing its marker: restored from PostgreSQL',
    );
  }
}

const key = (sessionId: string): string => `auth:revoked-session:${sessionId}`;
/** Present while the revocation set is complete; written last by a restore, never expires. */
const COMPLETE = 'auth:revocations-complete';
const RESTORE_BATCH = 500;
