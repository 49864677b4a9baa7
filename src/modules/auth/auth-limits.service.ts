import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { InjectConfig, type AppConfig } from '../../common/config';
import { commonError } from '../../common/errors/common-errors';
import { emailKey } from './auth-secrets';

/**
 * Per-email limits, in Redis so every replica shares them. Keys hold a hash of the address, and
 * every rule applies to unknown, pending and confirmed addresses alike: a 429 never tells which.
 * Each rule is one Lua script, so concurrent requests cannot both slip under a limit.
 */
@Injectable()
export class AuthLimits {
  constructor(
    @InjectRedis() private readonly redis: Redis,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** Spends one mail from the address's budget (1 per interval, N per hour) or throws 429. */
  async consumeMail(email: string): Promise<void> {
    const { mailMinIntervalSeconds, mailHourlyLimit } = this.config.auth;
    const k = emailKey(email);
    const retryAfterMs = (await this.redis.eval(
      CONSUME_MAIL,
      2,
      `auth:mail-gap:${k}`,
      `auth:mail-hour:${k}`,
      String(mailMinIntervalSeconds * 1000),
      String(mailHourlyLimit),
      String(3600 * 1000),
    )) as number;
    if (retryAfterMs > 0) throw commonError('rate_limited', { retryAfterSeconds: retryAfterMs / 1000 });
  }

  /**
   * Throws 429 while the address is in login backoff. Otherwise resolves with whether failures
   * are on record, so a successful login clears them only when there is something to clear.
   */
  async assertLoginAllowed(email: string): Promise<{ failuresOnRecord: boolean }> {
    const k = emailKey(email);
    // Both commands leave in one write (the client auto-pipelines a turn's commands).
    const [ttlMs, failures] = await Promise.all([
      this.redis.pttl(`auth:login-lock:${k}`),
      this.redis.exists(`auth:login-fail:${k}`, `auth:login-level:${k}`),
    ]);
    if (ttlMs > 0) throw commonError('rate_limited', { retryAfterSeconds: ttlMs / 1000 });
    return { failuresOnRecord: failures > 0 };
  }

  /**
   * Counts a failed login. From the Nth failure within the window on, each failure locks the
   * address for base·2^k seconds (60 s, 120 s, … capped at 15 min): backoff, never a permanent lock.
   */
  async recordLoginFailure(email: string): Promise<void> {
    const a = this.config.auth;
    const k = emailKey(email);
    await this.redis.eval(
      RECORD_FAILURE,
      3,
      `auth:login-fail:${k}`,
      `auth:login-level:${k}`,
      `auth:login-lock:${k}`,
      String(a.loginFailureWindowSeconds),
      String(a.loginFailureLimit),
      String(a.loginBackoffBaseSeconds),
      String(a.loginBackoffMaxSeconds),
    );
  }

  async clearLoginFailures(email: string): Promise<void> {
    const k = emailKey(email);
    await this.redis.del(`auth:login-fail:${k}`, `auth:login-level:${k}`);
  }
}

// KEYS: gap, hour. ARGV: gap ms, hourly limit, hour ms. Returns 0 (allowed) or ms to wait.
const CONSUME_MAIL = `
local gap = redis.call('PTTL', KEYS[1])
if gap > 0 then return gap end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return ttl end
end
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
if redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 0
`;

// KEYS: failures, level, lock. ARGV: window s, limit, base s, max s.
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n < tonumber(ARGV[2]) then return 0 end
local level = redis.call('INCR', KEYS[2])
local seconds = math.min(tonumber(ARGV[3]) * 2 ^ (level - 1), tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[2], 86400)
redis.call('SET', KEYS[3], '1', 'EX', math.floor(seconds))
return seconds
`;
