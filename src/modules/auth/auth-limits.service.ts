import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { createHash, randomUUID } from 'node:crypto';
import { InjectConfig, type AppConfig } from '../../common/config';
import { commonError } from '../../common/errors/common-errors';
import { emailKey } from './auth-secrets';

/**
 * How long a login attempt holds its slot at most (ms). A login waits at most about 2 s for a
 * hash slot (password-hasher.ts) and then hashes for tens of milliseconds; the margin covers a
 * slow database. A replica that dies mid-attempt never settles its slots: they free themselves
 * after this long.
 */
const LOGIN_ATTEMPT_HOLD_MS = 30_000;

/** A login attempt that holds one of its address's slots until it is settled (success, failure or release). */
export interface LoginAttempt {
  readonly emailKey: string;
  readonly id: string;
}

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

  /**
   * Spends one mail from the address's budget or throws 429: one mail per interval, and N in any
   * hour (a sliding window: a fixed one, started by its first mail, let 2N through within minutes
   * across its end). Retry-After is the time until both rules allow the next mail. `atMs`: the
   * clock to judge by (tests); by default Redis's, the one clock every replica shares.
   */
  async consumeMail(email: string, atMs?: number): Promise<void> {
    const { mailMinIntervalSeconds, mailHourlyLimit } = this.config.auth;
    const retryAfterMs = (await this.script(
      CONSUME_MAIL,
      [`auth:mail-log:${emailKey(email)}`],
      [mailMinIntervalSeconds * 1000, mailHourlyLimit, 3600 * 1000, atMs ?? '', randomUUID()],
    )) as number;
    if (retryAfterMs > 0) throw commonError('rate_limited', { retryAfterSeconds: retryAfterMs / 1000 });
  }

  /**
   * Starts a login attempt before any hashing, or throws 429: while the address is locked, and
   * when the attempts in flight could by themselves reach the failure limit (its recorded
   * failures plus attempts in flight, at least one slot after a lock has run out). Checking and
   * taking the slot is one script, so concurrent guesses cannot all pass a check made before the
   * first of them is counted. Every attempt must be settled: {@link recordLoginSuccess},
   * {@link recordLoginFailure} or {@link releaseLoginAttempt}.
   */
  async startLoginAttempt(email: string): Promise<LoginAttempt> {
    const a = this.config.auth;
    const attempt = { emailKey: emailKey(email), id: randomUUID() };
    const retryAfterMs = (await this.script(BEGIN_ATTEMPT, loginKeys(attempt), [
      a.loginFailureLimit,
      a.loginBackoffBaseSeconds,
      a.loginBackoffMaxSeconds,
      attempt.id,
      LOGIN_ATTEMPT_HOLD_MS,
    ])) as number;
    if (retryAfterMs > 0) throw commonError('rate_limited', { retryAfterSeconds: retryAfterMs / 1000 });
    return attempt;
  }

  /** The right password: frees the slot and clears the failures and the backoff level. */
  async recordLoginSuccess(attempt: LoginAttempt): Promise<void> {
    const [failures, level, , inFlight] = loginKeys(attempt);
    // Both commands leave in one write (the client auto-pipelines a turn's commands).
    await Promise.all([this.redis.zrem(inFlight, attempt.id), this.redis.del(failures, level)]);
  }

  /**
   * Turns the attempt into a recorded failure. From the Nth failure within the window on, each
   * failure locks the address for base·2^k seconds (60 s, 120 s, … capped at 15 min): backoff,
   * never a permanent lock.
   */
  async recordLoginFailure(attempt: LoginAttempt): Promise<void> {
    const a = this.config.auth;
    await this.script(RECORD_FAILURE, loginKeys(attempt), [
      a.loginFailureWindowSeconds,
      a.loginFailureLimit,
      a.loginBackoffBaseSeconds,
      a.loginBackoffMaxSeconds,
      attempt.id,
    ]);
  }

  /** Frees the slot, counting nothing: the attempt ended without a verdict on the password. */
  async releaseLoginAttempt(attempt: LoginAttempt): Promise<void> {
    await this.redis.zrem(loginKeys(attempt)[3], attempt.id);
  }

  /** By SHA (EVALSHA); the whole script (EVAL, which loads it) only when Redis does not know it. */
  private async script(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return this.redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }
}

function loginKeys({ emailKey: k }: LoginAttempt): [failures: string, level: string, lock: string, inFlight: string] {
  return [`auth:login-fail:${k}`, `auth:login-level:${k}`, `auth:login-lock:${k}`, `auth:login-inflight:${k}`];
}

interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function lua(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

// KEYS: mail log (sorted set: a unique member per mail, scored by its time in ms). ARGV: min
// interval ms, limit, window ms, now ms ('' for Redis's clock), a unique member. Returns 0 (mail
// recorded) or the ms to wait: until the newest mail is an interval old and, at the limit, until
// the oldest leaves the window.
const CONSUME_MAIL = lua(`
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local wait = 0
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] then wait = tonumber(newest[2]) + tonumber(ARGV[1]) - now end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now)
end
if wait > 0 then return wait end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
return 0
`);

// KEYS: failures, level, lock, in flight (sorted set: attempt id by deadline, ms). ARGV: limit,
// base s, max s, attempt id, hold ms. Returns 0 (slot taken) or the ms to wait. Refused while
// in flight: the lock the attempts in flight would set if they all fail.
const BEGIN_ATTEMPT = lua(`
local lock = redis.call('PTTL', KEYS[3])
if lock > 0 then return lock end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if redis.call('ZCARD', KEYS[4]) >= math.max(tonumber(ARGV[1]) - failures, 1) then
  local level = tonumber(redis.call('GET', KEYS[2]) or '0')
  return math.min(tonumber(ARGV[2]) * 2 ^ level, tonumber(ARGV[3])) * 1000
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[5]), ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[5])
return 0
`);

// KEYS: failures, level, lock, in flight. ARGV: window s, limit, base s, max s, attempt id.
const RECORD_FAILURE = lua(`
redis.call('ZREM', KEYS[4], ARGV[5])
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n < tonumber(ARGV[2]) then return 0 end
local level = redis.call('INCR', KEYS[2])
local seconds = math.min(tonumber(ARGV[3]) * 2 ^ (level - 1), tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[2], 86400)
redis.call('SET', KEYS[3], '1', 'EX', math.floor(seconds))
return seconds
`);
