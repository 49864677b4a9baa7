import { InjectRedis } from '@nestjs-modules/ioredis';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type Redis from 'ioredis';
import type { AuthUser } from '../../common/auth';
import { InjectConfig, type AppConfig } from '../../common/config';
import { commonError } from '../../common/errors/common-errors';

const WINDOW_MS = 60_000;

/**
 * CONTRACT.md: 20 runs per minute per user, the route's only limit (its row of the table; the
 * per-IP "everything else" budget is not drawn on: the route is `@NoRateLimit()`). A route-level
 * guard rather than `@RateLimit` with a user tracker: the global guard counts per-IP limits while
 * it authenticates, so the user is only known for certain here, after it has passed. Counted in
 * Redis (fixed one-minute window per user), shared by every replica, and announced in the same
 * `X-RateLimit-*` headers as the per-IP limits.
 */
@Injectable()
export class AgentRunRateLimitGuard implements CanActivate {
  constructor(
    @InjectRedis() private readonly redis: Redis,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const user = context.switchToHttp().getRequest<{ user?: AuthUser }>().user;
    if (!user) throw commonError('unauthorized');
    const key = `agent:runs:${user.id}`;
    const results = await this.redis.multi().incr(key).pttl(key).exec();
    const count = Number(results?.[0]?.[1] ?? 0);
    let ttl = Number(results?.[1]?.[1] ?? -1);
    if (ttl < 0) {
      await this.redis.pexpire(key, WINDOW_MS);
      ttl = WINDOW_MS;
    }
    const limit = this.config.llm.runsPerMinute;
    const resetSeconds = Math.ceil(ttl / 1000);
    void context
      .switchToHttp()
      .getResponse<FastifyReply>()
      .headers({ 'x-ratelimit-limit': limit, 'x-ratelimit-remaining': Math.max(0, limit - count), 'x-ratelimit-reset': resetSeconds });
    if (count > limit) throw commonError('rate_limited', { retryAfterSeconds: resetSeconds });
    return true;
  }
}
