import { evaluateTargets } from '../../bench/lib/targets';
import type { BenchResults, ScenarioResult } from '../../bench/lib/results';

type Input = Parameters<typeof evaluateTargets>[0];

const scenario = (name: string, over: Partial<ScenarioResult>): ScenarioResult => ({
  name,
  description: name,
  connections: 50,
  requestsPerSecond: 1000,
  requests: 10_000,
  latencyP50Ms: 1,
  latencyP99Ms: 2,
  latencyMaxMs: 3,
  errors: 0,
  statusCodes: { '200': 10_000 },
  pairedBaselineRequestsPerSecond: 2000,
  ratioToBaseline: 0.5,
  serverCpuMsPerRequest: 0.1,
  rssBeforeMB: 100,
  rssAfterMB: 100,
  ...over,
});

function results(rounds: ScenarioResult[][]): Input {
  return {
    rounds: rounds.map((scenarios, i) => ({ round: i + 1, scenarios, rssAfterMB: 100 })),
    coldStartMs: { samples: [], median: undefined },
    finalRssMB: undefined,
  } as unknown as Input;
}

const verdict = (targets: BenchResults['targets'], prefix: string): { actual: string; met: boolean | undefined } => {
  const t = targets.find((x) => x.target.startsWith(prefix));
  if (!t) throw new Error(`no target ${prefix}`);
  return { actual: t.actual, met: t.met };
};

describe('evaluateTargets', () => {
  it('meets a ratio target only when every round does, and shows each round', () => {
    const flattered = evaluateTargets(
      results([[scenario('health', { ratioToBaseline: 1.04 })], [scenario('health', { ratioToBaseline: 0.53 })]]),
    );
    expect(verdict(flattered, '/health ≥')).toEqual({ actual: '0.79× (rounds: 1.04×, 0.53×)', met: false });
    const steady = evaluateTargets(
      results([[scenario('users-me', { ratioToBaseline: 0.26 })], [scenario('users-me', { ratioToBaseline: 0.28 })]]),
    );
    expect(verdict(steady, '/users/me')).toEqual({ actual: '0.27× (rounds: 0.26×, 0.28×)', met: true });
  });

  it('holds a follow-up agent run to the same 5 ms as a first one, each on its own', () => {
    const targets = evaluateTargets(
      results([[scenario('agent-overhead', { latencyP50Ms: 4.2 }), scenario('agent-follow-up', { latencyP50Ms: 6.1 })]]),
    );
    expect(verdict(targets, 'agent run')).toEqual({ actual: '4.2 ms (rounds: 4.2 ms)', met: true });
    expect(verdict(targets, 'agent follow-up run')).toEqual({ actual: '6.1 ms (rounds: 6.1 ms)', met: false });
  });

  it('takes login against the argon2 rate measured next to it', () => {
    const login = (rps: number, argon2: number): ScenarioResult =>
      scenario('login', { requestsPerSecond: rps, pairedArgon2VerifyPerSecond: argon2 });
    expect(verdict(evaluateTargets(results([[login(90, 100)], [login(86, 100)]])), 'login')).toEqual({
      actual: '0.88× (rounds: 0.90×, 0.86×)',
      met: true,
    });
    expect(verdict(evaluateTargets(results([[login(90, 100)], [login(80, 100)]])), 'login').met).toBe(false);
  });

  it('fails refresh when any round is under its ratio', () => {
    const refresh = (ratio: number): ScenarioResult => scenario('refresh', { ratioToBaseline: ratio });
    expect(verdict(evaluateTargets(results([[refresh(0.12)], [refresh(0.07)]])), 'refresh').met).toBe(false);
    expect(verdict(evaluateTargets(results([[refresh(0.12)], [refresh(0.09)]])), 'refresh').met).toBe(true);
  });
});
