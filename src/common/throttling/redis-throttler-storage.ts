import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { assertRedisConnected } from '../redis/redis-availability';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * @nest-lab/throttler-storage-redis with its own Lua script and result checks, but the script goes
 * by its SHA1 (EVALSHA), sent in full (EVAL, which also loads it) only when Redis answers NOSCRIPT:
 * after a restart or a SCRIPT FLUSH. The library sends the whole script (≈ 1 KB) with an EVAL on
 * every request, which Redis then hashes again, on every rate-limited request of every replica.
 *
 * A plain `evalsha` call rather than ioredis's `defineCommand`: that wrapper (a `Script`) allocated
 * ≈ 0.8 KB more per call (a copied argument list, a closure per write, an extra promise for its
 * NOSCRIPT retry), on every rate-limited request (bench/results.md, session 9).
 */
export class RedisThrottlerStorage extends ThrottlerStorageRedisService {
  private readonly scriptSha: string;

  constructor(redis: Redis) {
    super(redis);
    this.scriptSha = createHash('sha1').update(this.scriptSrc).digest('hex');
  }

  override async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    assertRedisConnected(this.redis); // a quick 503 while Redis is lost, not a queued wait
    const hitKey = `{${key}:${throttlerName}}:hits`;
    const blockKey = `{${key}:${throttlerName}}:blocked`;
    let results: unknown;
    try {
      results = await this.redis.evalsha(this.scriptSha, 2, hitKey, blockKey, throttlerName, ttl, limit, blockDuration);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      results = await this.redis.eval(this.scriptSrc, 2, hitKey, blockKey, throttlerName, ttl, limit, blockDuration);
    }
    const [totalHits, timeToExpire, isBlocked, timeToBlockExpire] = Array.isArray(results) ? (results as unknown[]) : [];
    if (
      typeof totalHits !== 'number' ||
      typeof timeToExpire !== 'number' ||
      typeof isBlocked !== 'number' ||
      typeof timeToBlockExpire !== 'number'
    ) {
      throw new TypeError(`rate limit script answered ${JSON.stringify(results)}, expected four numbers`);
    }
    return {
      totalHits,
      timeToExpire: Math.ceil(timeToExpire / 1000),
      isBlocked: isBlocked === 1,
      timeToBlockExpire: Math.ceil(timeToBlockExpire / 1000),
    };
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
