import { loadConfig } from '../../../common/config';
import { MAX_RETRY_DELAY_MS, nextRetryMs, retryDelayMs } from './mail-retry-policy';

/** The times (ms after queueing) at which a mail that never gets through is tried, sends taking no time. */
function schedule(policy: Parameters<typeof nextRetryMs>[0]): number[] {
  const tries = [0];
  for (let attempt = 1; ; attempt++) {
    const delay = nextRetryMs(policy, attempt, tries[tries.length - 1]!);
    if (delay === undefined) return tries;
    tries.push(tries[tries.length - 1]! + delay);
  }
}

describe('mail retry policy', () => {
  it('with the defaults, keeps trying through the code’s validity, not just the first minutes', () => {
    const config = loadConfig({});
    const tries = schedule(config.mail);
    const validityMs = config.auth.codeTtlSeconds * 1000;
    expect(config.mail.retryWindowMs).toBe(validityMs);
    // The last try comes less than one (capped) delay before the code expires, never after it.
    expect(tries[tries.length - 1]).toBeGreaterThan(validityMs - MAX_RETRY_DELAY_MS);
    expect(tries[tries.length - 1]).toBeLessThanOrEqual(validityMs);
    // The window ends the tries, not the attempt limit.
    expect(tries.length).toBeLessThan(config.mail.maxAttempts);
    expect(tries.map((ms) => ms / 1000)).toEqual([0, 10, 30, 70, 150, 270, 390, 510]);
  });

  it('doubles from the base, capped; a base above the cap stays as it is', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelayMs({ retryBaseMs: 10_000 }, a))).toEqual([
      10_000, 20_000, 40_000, 80_000, 120_000, 120_000,
    ]);
    expect(retryDelayMs({ retryBaseMs: 300_000 }, 3)).toBe(300_000);
  });

  it('stops at the attempt limit even within the window', () => {
    const policy = { retryBaseMs: 10, maxAttempts: 3, retryWindowMs: 600_000 };
    expect(nextRetryMs(policy, 2, 0)).toBe(20);
    expect(nextRetryMs(policy, 3, 0)).toBeUndefined();
  });
});
