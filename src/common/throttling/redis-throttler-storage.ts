import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';

/** The name the script is defined under on the shared client (ioredis adds it as a method). */
const COMMAND = 'rtThrottlerIncrement';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

type IncrementCommand = (
  hitKey: string,
  blockKey: string,
  throttlerName: string,
  ttl: number,
  limit: number,
  blockDuration: number,
) => Promise<unknown>;

/**
 * @nest-lab/throttler-storage-redis with its own Lua script and result checks, but the script goes
 * by its SHA1 (EVALSHA; ioredis sends it in full once more when Redis answers NOSCRIPT, after a
 * restart or SCRIPT FLUSH). The library sends the whole script (≈ 1 KB) with an EVAL on every
 * request, which Redis then hashes again, on every rate-limited request of every replica.
 */
export class RedisThrottlerStorage extends ThrottlerStorageRedisService {
  private readonly incrementScript: IncrementCommand;

  constructor(redis: Redis) {
    super(redis);
    if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: this.scriptSrc });
    const command = (redis as unknown as Record<typeof COMMAND, IncrementCommand>)[COMMAND];
    this.incrementScript = command.bind(redis);
  }

  override async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const results = await this.incrementScript(
      `{${key}:${throttlerName}}:hits`,
      `{${key}:${throttlerName}}:blocked`,
      throttlerName,
      ttl,
      limit,
      blockDuration,
    );
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
