import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';

/**
 * Revoked session ids, in Redis so every replica refuses a revoked session's access tokens at
 * once. An entry only needs to outlive the longest access token it can still match.
 */
@Injectable()
export class SessionRevocationStore {
  constructor(@InjectRedis() private readonly redis: Redis) {}

  async revoke(sessionId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(key(sessionId), '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)));
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.redis.exists(key(sessionId))) === 1;
  }
}

const key = (sessionId: string): string => `auth:revoked-session:${sessionId}`;
