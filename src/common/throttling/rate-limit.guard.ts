import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { normalizeIp, ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { createHash } from 'node:crypto';
import { commonError } from '../errors/common-errors';
import { RouteMetadataCache } from '../http/route-metadata-cache';
import { NO_RATE_LIMIT } from './rate-limit.decorator';

/** Trackers longer than this (a forged X-Forwarded-For, say) are hashed, so keys stay small. */
const MAX_TRACKER_LENGTH = 64;

/** @nestjs/throttler's counting (limits from the decorators, Redis storage) with our tracker, keys and error. */
@Injectable()
export class RedisThrottlerGuard extends ThrottlerGuard {
  /** `ClassName.handlerName` of each route, instead of hashing that text on every request as the library does. */
  private readonly routeNames = new RouteMetadataCache((context) => `${context.getClass().name}.${context.getHandler().name}`);

  /**
   * The client IP, IPv6 addresses folded to their /64 (one client, its whole prefix: otherwise it
   * could step around every per-IP limit by changing address). `request.ip` already honours
   * X-Forwarded-For exactly when TRUST_PROXY=true (Fastify's trustProxy).
   */
  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(typeof req.ip === 'string' ? normalizeIp(req.ip, this.ipv6SubnetPrefix) : 'unknown');
  }

  /** Readable and bounded: `rate:route:tracker` (the storage appends the throttler's name), the tracker hashed only when it is long. */
  protected override generateKey(context: ExecutionContext, tracker: string): string {
    const who = tracker.length <= MAX_TRACKER_LENGTH ? tracker : createHash('sha256').update(tracker).digest('base64url');
    return `rate:${this.routeNames.get(context)}:${who}`;
  }

  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw commonError('rate_limited', { retryAfterSeconds: detail.timeToBlockExpire });
  }
}

/**
 * The global rate-limit guard. Routes marked `@NoRateLimit()` (health probes) are answered with
 * a plain `true`, which Nest takes without a promise, an await or a metadata walk; every other
 * route is counted by {@link RedisThrottlerGuard}.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly exempt = new RouteMetadataCache(
    (context) => this.reflector.getAllAndOverride<boolean | undefined>(NO_RATE_LIMIT, [context.getHandler(), context.getClass()]) === true,
  );

  constructor(
    private readonly reflector: Reflector,
    private readonly throttler: RedisThrottlerGuard,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    return this.exempt.get(context) || this.throttler.canActivate(context);
  }
}
