import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { InjectConfig, type AppConfig } from '../../common/config';
import { assertRedisConnected } from '../../common/redis/redis-availability';
import { PeriodicTask } from '../../common/scheduling/periodic-task';
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
 *
 * A revocation committed in PostgreSQL whose Redis write failed (Redis down at that moment; the
 * caller got a 503) would not be covered by either. So every replica also copies the revocations
 * made since its last successful copy into Redis once a minute ({@link resync}): such a session's
 * access tokens stop working at most a minute after Redis answers again.
 */
@Injectable()
export class SessionRevocationStore implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SessionRevocationStore.name);
  private restoring: Promise<void> | undefined;
  private resyncTask: PeriodicTask | undefined;
  /** When the last successful resync's query started; none yet: the whole token lifetime. */
  private resyncedFrom: number | undefined;

  constructor(
    @InjectRedis() private readonly redis: Redis,
    private readonly sessions: SessionsRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.resyncTask = new PeriodicTask(
      () => this.resync(),
      RESYNC_INTERVAL_MS,
      (error) => this.logger.warn({ err: error, event: 'auth.revocations_resync_failed' }, 'copying recent revocations to Redis failed'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.resyncTask?.stop();
  }

  /**
   * Copies into Redis the sessions revoked since the last successful copy started (with a margin
   * for commits in flight then), or within an access token's lifetime the first time. Idempotent:
   * replicas doing it at once write the same keys.
   */
  async resync(): Promise<number> {
    const started = Date.now();
    const ttl = this.config.jwt.accessTtlSeconds;
    const window = this.resyncedFrom === undefined ? ttl : Math.ceil((started - this.resyncedFrom) / 1000) + RESYNC_MARGIN_SECONDS;
    const copied = await this.copyFromDatabase(window);
    this.resyncedFrom = started;
    return copied;
  }

  async revoke(sessionId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(key(sessionId), '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)));
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    assertRedisConnected(this.redis); // a quick 503 while Redis is lost, not a queued wait
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
    const restored = await this.copyFromDatabase(this.config.jwt.accessTtlSeconds);
    await this.redis.set(COMPLETE, new Date().toISOString());
    this.logger.warn(
      { event: 'auth.revocations_restored', sessions: restored },
      'the Redis revocation set was missing its marker: restored from PostgreSQL',
    );
  }

  /** Writes the sessions revoked within the last `windowSeconds` into Redis; how many. */
  private async copyFromDatabase(windowSeconds: number): Promise<number> {
    const revoked = await this.sessions.revokedWithin(windowSeconds, this.config.jwt.accessTtlSeconds);
    for (let i = 0; i < revoked.length; i += RESTORE_BATCH) {
      const batch = this.redis.pipeline();
      for (const r of revoked.slice(i, i + RESTORE_BATCH)) batch.set(key(r.id), '1', 'EX', Math.max(1, r.ttl_seconds));
      for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
    }
    return revoked.length;
  }
}

const key = (sessionId: string): string => `auth:revoked-session:${sessionId}`;
/** Present while the revocation set is complete; written last by a restore, never expires. */
const COMPLETE = 'auth:revocations-complete';
const RESTORE_BATCH = 500;
const RESYNC_INTERVAL_MS = 60_000;
/** Revocations that committed while the previous copy ran are taken again. */
const RESYNC_MARGIN_SECONDS = 30;
