import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  normalizeIp,
  ThrottlerGuard,
  type ThrottlerGenerateKeyFunction,
  type ThrottlerGetTrackerFunction,
  type ThrottlerLimitDetail,
  type ThrottlerOptions,
} from '@nestjs/throttler';
// The decorators' metadata keys: the library's index does not export them.
import {
  THROTTLER_BLOCK_DURATION,
  THROTTLER_KEY_GENERATOR,
  THROTTLER_LIMIT,
  THROTTLER_SKIP,
  THROTTLER_TRACKER,
  THROTTLER_TTL,
} from '@nestjs/throttler/dist/throttler.constants';
import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { commonError } from '../errors/common-errors';
import { clientIp } from '../http/client-ip';
import { RouteMetadataCache } from '../http/route-metadata-cache';
import { DEFAULT_RATE_LIMIT_BUCKET, NO_RATE_LIMIT, RATE_LIMIT_BUCKET } from './rate-limit.decorator';

type Resolvable = ThrottlerOptions['limit'];

/** One throttler as it applies to one route: what the library reads from the route's decorators. */
interface RoutePlan {
  readonly throttler: ThrottlerOptions & { name: string };
  readonly skip: boolean;
  readonly limit: Resolvable;
  readonly ttl: Resolvable;
  readonly blockDuration: Resolvable | undefined;
  readonly getTracker: ThrottlerGetTrackerFunction;
  readonly generateKey: ThrottlerGenerateKeyFunction;
  /** The limits when none is a function of the request. */
  readonly fixed: Limits | undefined;
}

interface Limits {
  readonly limit: number;
  readonly ttl: number;
  readonly blockDuration: number;
}

/** Trackers longer than this (a route's own tracker, say) are hashed, so keys stay small. */
const MAX_TRACKER_LENGTH = 64;

/** @nestjs/throttler's counting (limits from the decorators, Redis storage) with our tracker, keys and error. */
@Injectable()
export class RedisThrottlerGuard extends ThrottlerGuard {
  /**
   * Each route's budget: its `@RateLimit` bucket, or the default one (every route without a limit
   * of its own shares it: "everything else, 300 per minute per IP"). A route given a limit with
   * the library's own `@Throttle` counts on its own (`ClassName.handlerName`), so two limits never
   * share a count. Read once per route; the library hashes the route's name on every request.
   */
  private readonly buckets = new RouteMetadataCache((context) => {
    const targets = [context.getHandler(), context.getClass()];
    const bucket = this.reflector.getAllAndOverride<string | undefined>(RATE_LIMIT_BUCKET, targets);
    if (bucket !== undefined) return bucket;
    const ownLimit = this.throttlers.some(
      (t) => this.reflector.getAllAndOverride(THROTTLER_LIMIT + (t.name ?? 'default'), targets) !== undefined,
    );
    return ownLimit ? `${context.getClass().name}.${context.getHandler().name}` : DEFAULT_RATE_LIMIT_BUCKET;
  });

  /** Each route's throttlers, read from its decorators once (see canActivate). */
  private readonly plans = new RouteMetadataCache((context) => this.throttlers.map((throttler) => this.planFor(context, throttler)));

  /**
   * The library's canActivate, with what it reads from the route's decorators read once per route
   * ({@link RouteMetadataCache}) instead of on every request: it walked the metadata of handler and
   * class twelve times per request and awaited each limit, window and block duration even when
   * they were plain numbers (≈ 3 % of a `/users/me`'s CPU; bench/results.md, "Session 15").
   * Same decisions, same order: per throttler, skipped (`@SkipThrottle`, `skipIf`) or counted by
   * the library's handleRequest. This guard never overrides `shouldSkip` (always false in the
   * library): routes that are not limited are `@NoRateLimit()`, answered by RateLimitGuard.
   */
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    for (const plan of this.plans.get(context)) {
      const { throttler } = plan;
      const skipIf = throttler.skipIf ?? this.commonOptions.skipIf;
      if (plan.skip || skipIf?.(context)) continue;
      const { limit, ttl, blockDuration } = plan.fixed ?? (await resolveLimits(context, plan));
      await this.handleRequest({
        context,
        limit,
        ttl,
        throttler,
        blockDuration,
        getTracker: plan.getTracker,
        generateKey: plan.generateKey,
      });
    }
    return true;
  }

  private planFor(context: ExecutionContext, throttler: ThrottlerOptions & { name?: string }): RoutePlan {
    const targets = [context.getHandler(), context.getClass()];
    const name = throttler.name ?? 'default';
    const read = <T>(key: string): T | undefined => this.reflector.getAllAndOverride<T | undefined>(key + name, targets);
    const plan = {
      throttler: { ...throttler, name },
      skip: read<boolean>(THROTTLER_SKIP) === true,
      limit: read<Resolvable>(THROTTLER_LIMIT) ?? throttler.limit,
      ttl: read<Resolvable>(THROTTLER_TTL) ?? throttler.ttl,
      blockDuration: read<Resolvable>(THROTTLER_BLOCK_DURATION) ?? throttler.blockDuration,
      getTracker: read<ThrottlerGetTrackerFunction>(THROTTLER_TRACKER) || throttler.getTracker || this.commonOptions.getTracker!,
      generateKey: read<ThrottlerGenerateKeyFunction>(THROTTLER_KEY_GENERATOR) || throttler.generateKey || this.commonOptions.generateKey!,
    };
    const computed = [plan.limit, plan.ttl, plan.blockDuration].some((v) => typeof v === 'function');
    // Plain numbers (all of ours) are checked once here; a function of the request, on each request.
    return { ...plan, fixed: computed ? undefined : limitsOf(plan.limit, plan.ttl, plan.blockDuration, name) };
  }

  /**
   * The client IP, IPv6 addresses folded to their /64 (one client, its whole prefix: otherwise it
   * could step around every per-IP limit by changing address). {@link clientIp} honours
   * X-Forwarded-For exactly when TRUST_PROXY=true, and only the entry our ingress appended.
   */
  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(normalizeIp(clientIp(req as unknown as FastifyRequest), this.ipv6SubnetPrefix));
  }

  /** Readable and bounded: `rate:bucket:tracker` (the storage appends the throttler's name), the tracker hashed only when it is long. */
  protected override generateKey(context: ExecutionContext, tracker: string): string {
    const who = tracker.length <= MAX_TRACKER_LENGTH ? tracker : createHash('sha256').update(tracker).digest('base64url');
    return `rate:${this.buckets.get(context)}:${who}`;
  }

  /**
   * The 429 carries the budget's X-RateLimit-* headers too, as every other answer of the route does
   * (the library sets them only when it lets a request through): the budget, none left, and when
   * the block ends (as Retry-After, which the library has set).
   */
  protected override throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const res = context.switchToHttp().getResponse<Record<string, unknown>>();
    this.setResponseHeader(res, `${this.headerPrefix}-Limit`, detail.limit);
    this.setResponseHeader(res, `${this.headerPrefix}-Remaining`, 0);
    this.setResponseHeader(res, `${this.headerPrefix}-Reset`, detail.timeToBlockExpire);
    throw commonError('rate_limited', { retryAfterSeconds: detail.timeToBlockExpire });
  }
}

/** As the library's own (private) check: a number, or a numeric string; anything else is a configuration error. */
function toNumber(value: unknown, option: string, throttlerName: string): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || Number.isNaN(number))
    throw new Error(`Invalid "${option}" for the "${throttlerName}" throttler: expected a number, got ${JSON.stringify(value)}.`);
  return number;
}

/** As the library does: the block lasts the window unless the route says otherwise. */
function limitsOf(limit: unknown, ttl: unknown, blockDuration: unknown, name: string): Limits {
  const window = toNumber(ttl, 'ttl', name);
  return { limit: toNumber(limit, 'limit', name), ttl: window, blockDuration: toNumber(blockDuration ?? window, 'blockDuration', name) };
}

/** Limits given as functions of the request, resolved for this one (in the library's order: limit, window, block). */
async function resolveLimits(context: ExecutionContext, plan: RoutePlan): Promise<Limits> {
  const at = async (value: Resolvable | undefined): Promise<unknown> => (typeof value === 'function' ? value(context) : value);
  const limit = await at(plan.limit);
  const ttl = await at(plan.ttl);
  return limitsOf(limit, ttl, await at(plan.blockDuration), plan.throttler.name);
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
