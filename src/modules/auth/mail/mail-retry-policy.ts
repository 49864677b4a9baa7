/** No retry waits longer than this, so an outage of a few minutes costs a code mail minutes, not its validity. */
export const MAX_RETRY_DELAY_MS = 120_000;

export interface RetryPolicy {
  /** The first retry's delay; each further one doubles, up to {@link MAX_RETRY_DELAY_MS}. */
  readonly retryBaseMs: number;
  /** Tries per mail in all (claims count, so an expired lease uses one up too). */
  readonly maxAttempts: number;
  /** Tries happen only within this time from the mail's queueing: the validity of the code it carries. */
  readonly retryWindowMs: number;
}

/** The wait after the `attempt`-th (1-based) failed try. */
export function retryDelayMs(policy: Pick<RetryPolicy, 'retryBaseMs'>, attempt: number): number {
  return Math.min(policy.retryBaseMs * 2 ** Math.max(0, attempt - 1), Math.max(policy.retryBaseMs, MAX_RETRY_DELAY_MS));
}

/**
 * The wait before the next try after the `attempt`-th try of a mail queued `ageMs` ago failed
 * transiently, or `undefined` when there is no next try: the tries are used up, or the next one
 * would come after the code in the mail expired (a late code is of no use to anyone). With the
 * defaults (10 s base, 10 minutes) tries fall at about 0 s, 10 s, 30 s, 70 s, 2.5, 4.5, 6.5 and
 * 8.5 minutes.
 */
export function nextRetryMs(policy: RetryPolicy, attempt: number, ageMs: number): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const delay = retryDelayMs(policy, attempt);
  return ageMs + delay <= policy.retryWindowMs ? delay : undefined;
}
