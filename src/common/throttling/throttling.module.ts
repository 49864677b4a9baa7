import { getRedisConnectionToken } from '@nestjs-modules/ioredis';
import { Module } from '@nestjs/common';
import { ThrottlerModule, seconds } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config';
import { RateLimitGuard, RedisThrottlerGuard } from './rate-limit.guard';
import { RedisThrottlerStorage } from './redis-throttler-storage';

/**
 * Rate limits on every route, counted in Redis so every replica shares them. The `default`
 * throttler is CONTRACT.md's "everything else" (300 per minute per IP); a route sets its own
 * with `@RateLimit(...)`, and health routes opt out with `@NoRateLimit()`.
 *
 * {@link RateLimitGuard} is exported, not registered as a global guard here: the app's one global
 * guard (the auth module's `RequestGuard`) runs it side by side with authentication, so the
 * counting and the revocation check go to Redis together instead of one after the other (Nest
 * awaits each global guard before starting the next).
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, getRedisConnectionToken()],
      useFactory: (config: AppConfig, redis: Redis) => ({
        throttlers: [{ name: 'default', ttl: seconds(60), limit: config.http.defaultRateLimitPerMinute }],
        storage: new RedisThrottlerStorage(redis),
      }),
    }),
  ],
  providers: [RedisThrottlerGuard, RateLimitGuard],
  exports: [RateLimitGuard],
})
export class ThrottlingModule {}
