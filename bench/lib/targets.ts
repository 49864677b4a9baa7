import type { BenchResults, RoundResult, ScenarioResult, TargetResult } from './results';

/**
 * The issue's targets, evaluated as stated (never relaxed here: a miss is reported as a miss). A
 * per-scenario target is met only when every round meets it: one round can be flattered by a
 * moment when the load generator, not the server, was the limit (session 6 saw `/health` at 1.04×
 * of bare Fastify in one round and 0.53× in the next), so the mean alone would not do.
 */
export function evaluateTargets(r: Omit<BenchResults, 'targets'>): TargetResult[] {
  const out: TargetResult[] = [];
  const avg = (name: string, pick: (s: ScenarioResult) => number | undefined): number | undefined => mean(r.rounds, name, pick);
  const fmt = (n: number | undefined, digits = 2, unit = ''): string => (n === undefined ? 'not measured' : `${n.toFixed(digits)}${unit}`);
  const check = (target: string, actual: number | undefined, ok: (v: number) => boolean, digits = 2, unit = ''): void => {
    out.push({ target, actual: fmt(actual, digits, unit), met: actual === undefined ? undefined : ok(actual) });
  };
  /** The mean over the rounds, each round's value beside it; met when every round is. */
  const checkRounds = (
    target: string,
    name: string,
    pick: (s: ScenarioResult) => number | undefined,
    ok: (v: number) => boolean,
    digits = 2,
    unit = '',
  ): void => {
    const each = values(r.rounds, name, pick);
    const m = avg(name, pick);
    out.push({
      target,
      actual: m === undefined ? 'not measured' : `${fmt(m, digits, unit)} (rounds: ${each.map((v) => fmt(v, digits, unit)).join(', ')})`,
      met: m === undefined ? undefined : each.every(ok),
    });
  };

  checkRounds(
    '/health ≥ 0.75× bare Fastify (production settings)',
    'health',
    (s) => s.ratioToBaseline,
    (v) => v >= 0.75,
    2,
    '×',
  );
  checkRounds(
    '/users/me ≥ 0.25× bare Fastify',
    'users-me',
    (s) => s.ratioToBaseline,
    (v) => v >= 0.25,
    2,
    '×',
  );
  checkRounds(
    'login ≥ 0.85× raw argon2 verify rate',
    'login',
    (s) => (s.pairedArgon2VerifyPerSecond ? s.requestsPerSecond / s.pairedArgon2VerifyPerSecond : undefined),
    (v) => v >= 0.85,
    2,
    '×',
  );
  check('/health p99 ≤ 25 ms while logins saturate', r.eventLoop?.healthP99Ms, (v) => v <= 25, 1, ' ms');
  const refreshRatio = avg('refresh', (s) => s.ratioToBaseline);
  const refreshRounds = values(r.rounds, 'refresh', (s) => s.ratioToBaseline);
  const refreshErrors = sum(r.rounds, 'refresh', (s) => s.errors);
  const integrity = r.refreshIntegrity;
  out.push({
    target: 'refresh ≥ 0.08× bare Fastify, zero errors, no forked sessions',
    actual:
      refreshRatio === undefined
        ? 'not measured'
        : `${refreshRatio.toFixed(3)}× (rounds: ${refreshRounds.map((v) => `${v.toFixed(3)}×`).join(', ')}), ${refreshErrors} errors` +
          (integrity
            ? `, ${integrity.revoked} of ${integrity.chains} chains revoked, ${integrity.stillRotate} of ${integrity.chains} still rotate`
            : ''),
    met:
      refreshRatio === undefined
        ? undefined
        : refreshRounds.every((v) => v >= 0.08) &&
          refreshErrors === 0 &&
          (!integrity || (integrity.revoked === 0 && integrity.stillRotate === integrity.chains)),
  });
  checkRounds(
    'agent run (offline model) server overhead p50 ≤ 5 ms',
    'agent-overhead',
    (s) => s.latencyP50Ms,
    (v) => v <= 5,
    1,
    ' ms',
  );
  // The same target for a run that continues a chat (most runs of a real one): it reads and extends history.
  checkRounds(
    'agent follow-up run (offline model) server overhead p50 ≤ 5 ms',
    'agent-follow-up',
    (s) => s.latencyP50Ms,
    (v) => v <= 5,
    1,
    ' ms',
  );
  check('cold start ≤ 1.5 s (median)', r.coldStartMs.median, (v) => v <= 1500, 0, ' ms');
  check('RSS ≤ 250 MB after the full bench', r.finalRssMB, (v) => v <= 250, 0, ' MB');
  const first = r.rounds[0]?.rssAfterMB;
  const second = r.rounds[1]?.rssAfterMB;
  check(
    'RSS growth ≤ 10% over a second identical round',
    first !== undefined && second !== undefined ? ((second - first) / first) * 100 : undefined,
    (v) => v <= 10,
    1,
    ' %',
  );
  const allErrors =
    r.rounds.flatMap((round) => round.scenarios).reduce((n, s) => n + s.errors, 0) +
    (r.eventLoop ? r.eventLoop.healthErrors + r.eventLoop.loginErrors : 0);
  out.push({ target: 'zero errors in every scenario', actual: `${allErrors} errors`, met: allErrors === 0 });
  return out;
}

function values(rounds: readonly RoundResult[], name: string, pick: (s: ScenarioResult) => number | undefined): number[] {
  return rounds.flatMap((round) => round.scenarios.filter((s) => s.name === name).map(pick)).filter((v): v is number => v !== undefined);
}

function mean(rounds: readonly RoundResult[], name: string, pick: (s: ScenarioResult) => number | undefined): number | undefined {
  const v = values(rounds, name, pick);
  return v.length === 0 ? undefined : v.reduce((a, b) => a + b, 0) / v.length;
}

function sum(rounds: readonly RoundResult[], name: string, pick: (s: ScenarioResult) => number): number {
  return values(rounds, name, pick).reduce((a, b) => a + b, 0);
}
