import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { commonError } from '../errors/common-errors';
import { RouteMetadataCache } from '../http/route-metadata-cache';
import { NO_RATE_LIMIT } from './rate-limit.decorator';

const EXEMPT = Promise.resolve(true);

@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private readonly exempt = new RouteMetadataCache(
    (context) => this.reflector.getAllAndOverride<boolean | undefined>(NO_RATE_LIMIT, [context.getHandler(), context.getClass()]) === true,
  );

  override canActivate(context: ExecutionContext): Promise<boolean> {
    return this.exempt.get(context) ? EXEMPT : super.canActivate(context);
  }

  /** `request.ip` already honours X-Forwarded-For exactly when TRUST_PROXY=true (Fastify's trustProxy). */
  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(typeof req.ip === 'string' ? req.ip : 'unknown');
  }

  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw commonError('rate_limited', { retryAfterSeconds: detail.timeToBlockExpire });
  }
}
