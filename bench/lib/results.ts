import type { CpuBreakdown } from './cpu-accounting';
import type { BenchOptions } from './options';
import type { MachineInfo, Versions } from './machine';
import type { SliceRates } from '../load/load-spec';

export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly connections: number;
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  /** Connection errors + timeouts + non-2xx answers: must be zero. */
  readonly errors: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  /**
   * Bare Fastify's rate measured beside this scenario, in slices alternating with the scenario's
   * own (for the baseline scenario itself, its own rate). The machine's speed drifts by tens of
   * percent within minutes, so a scenario is compared with the baseline of the same seconds.
   */
  readonly pairedBaselineRequestsPerSecond: number | undefined;
  /** Each alternating slice's rate and the baseline's beside it (not for the baseline scenario). */
  readonly slices?: readonly SliceRates[];
  /** requestsPerSecond / pairedBaselineRequestsPerSecond. */
  readonly ratioToBaseline: number | undefined;
  /**
   * Login only: the raw argon2id verify rate measured right before and right after this scenario
   * (mean), which login's target is taken against, for the same reason as the paired baseline.
   */
  readonly pairedArgon2VerifyPerSecond?: number;
  /**
   * Server CPU time per request (user + system, warm-up included, the paired baseline's slices
   * not), in ms: robust to other load on a shared machine, unlike the rate. For the baseline and
   * the I/O floor, the bare Fastify process's.
   */
  readonly serverCpuMsPerRequest: number | undefined;
  /**
   * Over the same seconds, the CPU per request of each process sharing the machine's cores, and of
   * the machine as a whole (bench/lib/cpu-accounting.ts): what the request cost, not only the server.
   */
  readonly cpuMsPerRequest?: CpuBreakdown;
  readonly rssBeforeMB: number | undefined;
  readonly rssAfterMB: number | undefined;
}

export interface RoundResult {
  readonly round: number;
  readonly scenarios: ScenarioResult[];
  readonly rssAfterMB: number | undefined;
}

export interface TargetResult {
  readonly target: string;
  readonly actual: string;
  /** undefined: not measured in this run (scenario skipped). */
  readonly met: boolean | undefined;
}

export interface BenchResults {
  readonly date: string;
  readonly totalSeconds: number;
  readonly options: BenchOptions;
  readonly machine: MachineInfo & { loadAverageAfter: readonly number[] };
  readonly versions: Versions;
  /** How the bench server ran: production settings plus the raised limits, secrets left out. */
  readonly serverSettings: Readonly<Record<string, string>>;
  readonly raisedLimits: readonly string[];
  readonly argon2VerifyPerSecond: number | undefined;
  /** The start's measurement by way of running (bench/argon2-rate.ts); the ceiling is the fastest. */
  readonly argon2VerifyPerSecondByMode?: Readonly<Record<string, number>>;
  readonly coldStartMs: { readonly samples: readonly number[]; readonly median: number | undefined };
  readonly rounds: RoundResult[];
  readonly eventLoop:
    | {
        readonly healthP50Ms: number;
        readonly healthP99Ms: number;
        readonly healthErrors: number;
        readonly loginRps: number;
        readonly loginErrors: number;
      }
    | undefined;
  readonly refreshIntegrity:
    { readonly chains: number; readonly found: number; readonly revoked: number; readonly stillRotate: number } | undefined;
  readonly finalRssMB: number | undefined;
  readonly targets: TargetResult[];
}
