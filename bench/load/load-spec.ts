import type { CpuBreakdown } from '../lib/cpu-accounting';

/** What the runner asks the load-driver process to do (sent over IPC, so plain data only). */
export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Client k follows plans[k % plans.length]; each plan cycles through its requests. */
  readonly plans: readonly ClientPlan[];
  /**
   * Second octet of the fake client addresses sent as X-Forwarded-For (the server trusts the
   * proxy in the bench), so concurrent drivers never share an address.
   */
  readonly ipBlock: number;
  /**
   * The bare baseline, measured by the same load-driver process in slices alternating with this
   * spec's own, so that both rates come from the same seconds of this machine (absent for the
   * baseline scenario itself).
   */
  readonly pairedWith?: PairedLoad;
  /** Alternating slices the measurement is cut into when `pairedWith` is set (each durationSeconds / slices long). */
  readonly slices?: number;
  /**
   * The process serving this spec, whose CPU time is counted over the warm-up and this spec's own
   * slices only (the paired slices may run on the same process: the I/O floor is served by the
   * baseline's server).
   */
  readonly cpuPid?: number;
}

/** The load the measurement alternates with: its own warm-up, then a slice before or after each of ours. */
export interface PairedLoad {
  readonly url: string;
  readonly connections: number;
  readonly plans: readonly ClientPlan[];
  readonly ipBlock: number;
  readonly warmupSeconds: number;
}

export interface ClientPlan {
  readonly requests: readonly PlannedRequest[];
  /** The refresh chain this client rotates (POST /auth/sessions/refresh entries). */
  readonly refreshToken?: string;
}

export interface PlannedRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** A new client address per request: the per-IP auth limits then never trip (see results.md). */
  readonly freshIp?: boolean;
  /** The body is this client's current refresh token; the answer's token replaces it. */
  readonly refresh?: boolean;
}

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  /** Requests completed during the warm-up (to spread the server's CPU time over every request). */
  readonly warmupRequests: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** Each plan's refresh token after the run (refresh scenarios). */
  readonly refreshTokens: readonly (string | undefined)[];
  /** CPU seconds `cpuPid` used during the warm-up and this spec's own slices (undefined without /proc). */
  readonly serverCpuSeconds?: number;
  /** Over the same seconds: CPU milliseconds by process (undefined without /proc schedstat). */
  readonly cpuMs?: CpuBreakdown;
  /** The paired load's rate over all its slices (when the spec had `pairedWith`). */
  readonly pairedRequestsPerSecond?: number;
  /** Each slice's two rates, in order (when the spec had `pairedWith`). */
  readonly slices?: readonly SliceRates[];
}

export interface SliceRates {
  readonly requestsPerSecond: number;
  readonly pairedRequestsPerSecond: number;
}
