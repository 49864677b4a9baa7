import { getRedisConnectionToken } from '@nestjs-modules/ioredis';
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, seconds } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config';
import { RateLimitGuard, RedisThrottlerGuard } from './rate-limit.guard';
import { RedisThrottlerStorage } from './redis-throttler-storage';

/**
 * Rate limits on every route, counted in Redis so every replica shares them. The `default`
 * throttler is CONTRACT.md's "everything else" (300 per minute per IP); a route sets its own
 * with `@RateLimit(...)`, and health routes opt out with `@NoRateLimit()`.
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
  providers: [RedisThrottlerGuard, { provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class ThrottlingModule {}
