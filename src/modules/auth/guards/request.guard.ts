import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { RateLimitGuard } from '../../../common/throttling/rate-limit.guard';
import { JwtAuthGuard } from './jwt-auth.guard';

/**
 * The app's one global guard (APP_GUARD): the rate limit ({@link RateLimitGuard}) and
 * authentication ({@link JwtAuthGuard}), started together. Nest awaits each global guard before
 * it starts the next, so as two guards the limiter's Redis command and the revocation check's
 * went out one round trip apart; started together, they leave in one auto-pipelined write and
 * the request waits for Redis once.
 *
 * The outcome is what the two guards in that order gave: a rate-limited request is refused with
 * 429 (or 503 when Redis is down) whatever its credentials; otherwise authentication decides.
 * Routes needing neither (health probes: `@NoRateLimit()` and `@Public()`) get a plain `true`,
 * which Nest takes without a promise.
 */
@Injectable()
export class RequestGuard implements CanActivate {
  constructor(
    private readonly rateLimit: RateLimitGuard,
    private readonly auth: JwtAuthGuard,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const limited = this.rateLimit.canActivate(context);
    let authenticated: boolean | Promise<boolean>;
    try {
      authenticated = this.auth.canActivate(context);
    } catch (error) {
      // As a rejection, so that `limited`, already started, is still awaited (never left unhandled).
      authenticated = Promise.reject(error instanceof Error ? error : new Error('authentication failed', { cause: error }));
    }
    if (limited === true) return authenticated;
    if (authenticated === true) return limited;
    return both(limited, authenticated);
  }
}

/** Both verdicts, the rate limit's refusal first; every rejection is observed (none goes unhandled). */
async function both(limited: boolean | Promise<boolean>, authenticated: boolean | Promise<boolean>): Promise<boolean> {
  const [rate, auth] = await Promise.allSettled([limited, authenticated]);
  if (rate.status === 'rejected') throw rate.reason;
  if (auth.status === 'rejected') throw auth.reason;
  return rate.value && auth.value;
}
