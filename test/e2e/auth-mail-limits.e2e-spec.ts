import { getRedisConnectionToken } from '@nestjs-modules/ioredis';
import type Redis from 'ioredis';
import { DomainError } from '../../src/common/errors/domain-error';
import { AuthLimits } from '../../src/modules/auth/auth-limits.service';
import { emailKey } from '../../src/modules/auth/auth-secrets';
import { uniqueName } from './support/auth';
import { createTestApp, type TestApp } from './support/test-app';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * The per-address mail budget (1 per 60 s, 5 in any hour) on the real Redis script, driven by an
 * explicit clock, so hours pass without waiting.
 */
describe('auth: per-address mail limits', () => {
  let t: TestApp;
  let limits: AuthLimits;
  beforeAll(async () => {
    t = await createTestApp();
    limits = t.app.get(AuthLimits);
    expect(t.config.auth.mailMinIntervalSeconds).toBe(60);
    expect(t.config.auth.mailHourlyLimit).toBe(5);
  });
  afterAll(() => t.close());

  /** null when the mail may go, else the Retry-After the client would get (whole seconds, as sent). */
  async function mailAt(email: string, atMs: number): Promise<number | null> {
    try {
      await limits.consumeMail(email, atMs);
      return null;
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== 'rate_limited') throw error;
      return Math.max(1, Math.ceil(error.options.retryAfterSeconds ?? 0));
    }
  }

  it('the hour slides: mails at 0, 56, 57, 58 and 59 min leave room for one at 60 min, then none until 116 min', async () => {
    const email = `${uniqueName('mail')}@example.test`;
    const t0 = Date.now();
    for (const minute of [0, 56, 57, 58, 59]) expect(await mailAt(email, t0 + minute * MINUTE)).toBeNull();
    // The mail at 0 has just left the hour.
    expect(await mailAt(email, t0 + 60 * MINUTE)).toBeNull();
    // A window that started with the first mail would have begun afresh at 60 min and let these through.
    for (const minute of [61, 62, 63, 64]) expect(await mailAt(email, t0 + minute * MINUTE)).toBe((116 - minute) * 60);
    expect(await mailAt(email, t0 + 116 * MINUTE - SECOND)).toBe(1);
    expect(await mailAt(email, t0 + 116 * MINUTE)).toBeNull();
    const ttl = await t.app.get<Redis>(getRedisConnectionToken()).pttl(`auth:mail-log:${emailKey(email)}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(HOUR);
  });

  it('over hours of irregular tries: at most 5 mails in any hour, 60 s apart, and Retry-After is exactly the wait', async () => {
    const email = `${uniqueName('mail')}@example.test`;
    const random = seededRandom(20251124);
    const sent: number[] = [];
    /** What the rules say, from the mails accepted so far: ms to wait (≤ 0: the mail may go). */
    const expectedWait = (now: number): number => {
      const inHour = sent.filter((s) => s > now - HOUR);
      const gap = sent.length > 0 ? sent[sent.length - 1]! + MINUTE - now : 0;
      return Math.max(gap, inHour.length >= 5 ? inHour[0]! + HOUR - now : 0);
    };
    const refusals = { gap: 0, hour: 0 };
    let now = Date.now();
    for (let i = 0; i < 120; i++) {
      now += Math.floor(random() * 15 * MINUTE);
      const wait = expectedWait(now);
      const retryAfter = await mailAt(email, now);
      if (wait <= 0) {
        expect(retryAfter).toBeNull();
        sent.push(now);
        continue;
      }
      expect(retryAfter).toBe(Math.ceil(wait / SECOND));
      refusals[sent.filter((s) => s > now - HOUR).length >= 5 ? 'hour' : 'gap']++;
      // One second before the Retry-After is still too early; at it, the mail goes.
      if (retryAfter! > 1) expect(await mailAt(email, now + (retryAfter! - 1) * SECOND)).not.toBeNull();
      now += retryAfter! * SECOND;
      expect(await mailAt(email, now)).toBeNull();
      sent.push(now);
    }
    // Both rules were exercised.
    expect(refusals.gap).toBeGreaterThan(0);
    expect(refusals.hour).toBeGreaterThan(0);
    for (let i = 0; i < sent.length; i++) {
      expect(sent.filter((s) => s >= sent[i]! && s < sent[i]! + HOUR).length).toBeLessThanOrEqual(5);
      if (i > 0) expect(sent[i]! - sent[i - 1]!).toBeGreaterThanOrEqual(MINUTE);
    }
  });
});

/** mulberry32: the same sequence on every run, so a failure can be replayed. */
function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
