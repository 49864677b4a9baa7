import { applyDecorators, SetMetadata } from '@nestjs/common';
import { Throttle, type ThrottlerGetTrackerFunction } from '@nestjs/throttler';

export interface RateLimitOptions {
  /**
   * The budget's name: every route naming the same bucket draws on one count per tracker (one row
   * of CONTRACT.md's table, e.g. signup and resend together). Declare each bucket once, as a
   * constant, so its routes cannot disagree on the limit.
   */
  readonly bucket: string;
  /** Requests allowed per window. */
  readonly limit: number;
  /** Window length in seconds. */
  readonly windowSeconds: number;
  /** Whose budget it is: the client IP (default) or something else, e.g. the signed-in user. */
  readonly tracker?: ThrottlerGetTrackerFunction;
}

export const RATE_LIMIT_BUCKET = 'rate-limit:bucket';

/** The bucket of every route without a limit of its own: CONTRACT.md's "everything else", 300 per minute per IP. */
export const DEFAULT_RATE_LIMIT_BUCKET = 'default';

/**
 * Declares a route's own limit in place of the default one, counted per bucket and tracker in
 * Redis (shared by replicas); exceeding it is a 429 problem with Retry-After.
 */
export const RateLimit = ({ bucket, limit, windowSeconds, tracker }: RateLimitOptions): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(RATE_LIMIT_BUCKET, bucket),
    Throttle({ default: { limit, ttl: windowSeconds * 1000, ...(tracker ? { getTracker: tracker } : {}) } }),
  );

export const NO_RATE_LIMIT = 'rate-limit:none';

/**
 * Exempts a route (or a controller) from the per-IP limits: health probes, and a route whose own
 * guard counts a limit of another kind (agent runs, per user). RateLimitGuard answers such routes
 * before the throttler runs, without touching Redis or walking route metadata per request.
 */
export const NoRateLimit = (): MethodDecorator & ClassDecorator => SetMetadata(NO_RATE_LIMIT, true);
