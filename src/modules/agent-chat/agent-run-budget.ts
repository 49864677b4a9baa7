import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type Redis from 'ioredis';
import { InjectConfig, type AppConfig } from '../../common/config';
import { commonError } from '../../common/errors/common-errors';

const WINDOW_MS = 60_000;

/** Decrements a window's count if the window still exists (an expired one is not recreated without its expiry). */
const GIVE_BACK = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return -1`;

/**
 * CONTRACT.md: 20 runs per minute per user, the route's only limit (its row of the table; the
 * per-IP "everything else" budget is not drawn on: the route is `@NoRateLimit()`). Counted in
 * Redis (fixed one-minute window per user), shared by every replica, and announced in the same
 * `X-RateLimit-*` headers as the per-IP limits.
 *
 * Taken by the route itself, once its body is valid, rather than by a guard, which runs before
 * validation: a client sending malformed bodies (422) used up its user's runs. A request refused
 * before a run opens (someone else's session: 404; a run already going: 409) gives its unit back,
 * so polling while a run goes does not lock the user out either.
 */
@Injectable()
export class AgentRunBudget {
  constructor(
    @InjectRedis() private readonly redis: Redis,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** Counts one run for `userId`; 429 `rate_limited` (with Retry-After) past the limit. */
  async take(userId: string, reply: FastifyReply): Promise<void> {
    const key = keyOf(userId);
    const results = await this.redis.multi().incr(key).pttl(key).exec();
    const count = Number(results?.[0]?.[1] ?? 0);
    let ttl = Number(results?.[1]?.[1] ?? -1);
    if (ttl < 0) {
      await this.redis.pexpire(key, WINDOW_MS);
      ttl = WINDOW_MS;
    }
    const limit = this.config.llm.runsPerMinute;
    const resetSeconds = Math.ceil(ttl / 1000);
    void reply.headers({
      'x-ratelimit-limit': limit,
      'x-ratelimit-remaining': Math.max(0, limit - count),
      'x-ratelimit-reset': resetSeconds,
    });
    if (count > limit) throw commonError('rate_limited', { retryAfterSeconds: resetSeconds });
  }

  /** Gives back the unit {@link take} counted, for a request that opened no run. */
  async giveBack(userId: string, reply: FastifyReply): Promise<void> {
    const count = Number(await this.redis.eval(GIVE_BACK, 1, keyOf(userId)));
    if (count >= 0) void reply.header('x-ratelimit-remaining', Math.max(0, this.config.llm.runsPerMinute - count));
  }
}

function keyOf(userId: string): string {
  return `agent:runs:${userId}`;
}
