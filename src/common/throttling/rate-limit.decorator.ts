import { SetMetadata } from '@nestjs/common';
import { Throttle, type ThrottlerGetTrackerFunction } from '@nestjs/throttler';

export interface RateLimitOptions {
  /** Requests allowed per window. */
  readonly limit: number;
  /** Window length in seconds. */
  readonly windowSeconds: number;
  /** Whose budget it is: the client IP (default) or something else, e.g. the signed-in user. */
  readonly tracker?: ThrottlerGetTrackerFunction;
}

/**
 * Declares a route's own limit in place of the default one. Counted per route, per tracker,
 * in Redis (shared by replicas); exceeding it is a 429 problem with Retry-After.
 */
export const RateLimit = ({ limit, windowSeconds, tracker }: RateLimitOptions): MethodDecorator & ClassDecorator =>
  Throttle({ default: { limit, ttl: windowSeconds * 1000, ...(tracker ? { getTracker: tracker } : {}) } });

export const NO_RATE_LIMIT = 'rate-limit:none';

/**
 * Exempts a route (or a controller) from every limit: health probes. RateLimitGuard answers such
 * routes before the throttler runs, without touching Redis or walking route metadata per request.
 */
export const NoRateLimit = (): MethodDecorator & ClassDecorator => SetMetadata(NO_RATE_LIMIT, true);
