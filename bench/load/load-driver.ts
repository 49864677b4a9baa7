import autocannon from 'autocannon';
import { addCpu, cpuBetween, cpuSnapshot, type CpuBreakdown } from '../lib/cpu-accounting';
import { cpuSeconds } from '../lib/processes';
import type { ClientPlan, LoadResult, LoadSpec, PlannedRequest } from './load-spec';

/**
 * The load generator, in its own process so its CPU use is not the server's. Receives one
 * LoadSpec over IPC, runs an unrecorded warm-up and then the measurement with autocannon (in
 * slices alternating with the paired baseline, when there is one), and answers with a LoadResult.
 */
interface PlanState {
  refreshToken: string | undefined;
}

let ipCounter = 0;

/** 10.<block>.x.y, a different address for every request (65 536 per block before moving on). */
function nextIp(block: number): string {
  ipCounter++;
  return `10.${(block + (ipCounter >> 16)) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

type AutocannonRequest = NonNullable<autocannon.Options['requests']>[number];

function toAutocannon(entry: PlannedRequest, state: PlanState, ipBlock: number): AutocannonRequest {
  const headers: Record<string, string> = { ...entry.headers };
  if (entry.body !== undefined || entry.refresh) headers['content-type'] = 'application/json';
  if (!entry.freshIp && !entry.refresh) return { method: entry.method, path: entry.path, headers, body: entry.body };
  return {
    method: entry.method,
    path: entry.path,
    headers,
    setupRequest: (req) => ({
      ...req,
      headers: entry.freshIp ? { ...headers, 'x-forwarded-for': nextIp(ipBlock) } : headers,
      body: entry.refresh ? JSON.stringify({ refresh_token: state.refreshToken }) : entry.body,
    }),
    onResponse: entry.refresh
      ? (status, body) => {
          if (status === 200) state.refreshToken = (JSON.parse(body) as { refresh_token: string }).refresh_token;
        }
      : undefined,
  };
}

/** What autocannon needs to drive one server: the spec under test or the load it is paired with. */
type Target = Pick<LoadSpec, 'url' | 'connections' | 'plans' | 'ipBlock'>;

function run(target: Target, states: PlanState[], seconds: number, onLatency?: (ms: number) => void): PromiseLike<autocannon.Result> {
  let clientIndex = 0;
  const instance = autocannon({
    url: target.url,
    connections: target.connections,
    duration: seconds,
    timeout: 30,
    // Each client gets its own plan (its users' tokens, its refresh chain) at connection set-up.
    setupClient: (client) => {
      const k = clientIndex++ % target.plans.length;
      const plan: ClientPlan = target.plans[k]!;
      client.setRequests(plan.requests.map((r) => toAutocannon(r, states[k]!, target.ipBlock)));
    },
    requests: target.plans[0]!.requests.map((r) => toAutocannon(r, states[0]!, target.ipBlock)),
  });
  if (onLatency) instance.on('response', (_client, _status, _bytes, responseTime) => onLatency(responseTime));
  return instance;
}

const statesOf = (plans: readonly ClientPlan[]): PlanState[] => plans.map((p) => ({ refreshToken: p.refreshToken }));

/** Requests per second over several runs: all their requests over all their seconds. */
const rateOf = (runs: readonly autocannon.Result[]): number =>
  runs.reduce((n, r) => n + r.requests.total, 0) /
  Math.max(
    0.001,
    runs.reduce((t, r) => t + r.duration, 0),
  );

/** Nearest-rank percentile of sorted values (0 when there are none). */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  // The served process's CPU over our own load only: sampled around each of our runs.
  // And where the machine's CPU went meanwhile (server threads, PostgreSQL, Redis, this process).
  let serverCpu: number | undefined = 0;
  let cpu: CpuBreakdown | undefined;
  let cpuKnown = spec.cpuPid !== undefined;
  const subjects = { serverPid: spec.cpuPid ?? -1, loadGeneratorPid: process.pid };
  const counted = async <T>(load: PromiseLike<T>): Promise<T> => {
    const before = cpuSeconds(spec.cpuPid);
    const snapshotBefore = cpuKnown ? cpuSnapshot(subjects) : undefined;
    const result = await load;
    const snapshotAfter = snapshotBefore && cpuSnapshot(subjects);
    const after = cpuSeconds(spec.cpuPid);
    serverCpu = serverCpu !== undefined && before !== undefined && after !== undefined ? serverCpu + after - before : undefined;
    if (snapshotBefore && snapshotAfter) {
      const used = cpuBetween(snapshotBefore, snapshotAfter);
      cpu = cpu ? addCpu(cpu, used) : used;
    } else {
      cpuKnown = false;
    }
    return result;
  };
  const states = statesOf(spec.plans);
  const warmup = spec.warmupSeconds > 0 ? await counted(run(spec, states, spec.warmupSeconds)) : undefined;
  const paired = spec.pairedWith;
  const pairedStates = paired ? statesOf(paired.plans) : [];
  if (paired && paired.warmupSeconds > 0) await run(paired, pairedStates, paired.warmupSeconds);

  // Cut into slices alternating with the paired load, in ABBA order (the paired slice first, then
  // last, then first…), so that neither side is favoured by the machine speeding up or slowing down.
  const sliceCount = paired ? Math.max(1, Math.round(spec.slices ?? 1)) : 1;
  const sliceSeconds = spec.durationSeconds / sliceCount;
  const own: autocannon.Result[] = [];
  const theirs: autocannon.Result[] = [];
  const latencies: number[] = [];
  for (let i = 0; i < sliceCount; i++) {
    if (paired && i % 2 === 0) theirs.push(await run(paired, pairedStates, sliceSeconds));
    own.push(await counted(run(spec, states, sliceSeconds, (ms) => latencies.push(ms))));
    if (paired && i % 2 === 1) theirs.push(await run(paired, pairedStates, sliceSeconds));
  }
  const sorted = Float64Array.from(latencies).sort();
  const statusCodes: Record<string, number> = {};
  for (const r of own) for (const [code, s] of Object.entries(r.statusCodeStats)) statusCodes[code] = (statusCodes[code] ?? 0) + s.count;
  return {
    requestsPerSecond: rateOf(own),
    requests: own.reduce((n, r) => n + r.requests.total, 0),
    warmupRequests: warmup?.requests.total ?? 0,
    latencyP50Ms: percentile(sorted, 50),
    latencyP99Ms: percentile(sorted, 99),
    latencyMaxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : 0,
    errors: own.reduce((n, r) => n + r.errors + r.timeouts, 0),
    non2xx: own.reduce((n, r) => n + r.non2xx, 0),
    statusCodes,
    seconds: own.reduce((t, r) => t + r.duration, 0),
    refreshTokens: states.map((s) => s.refreshToken),
    serverCpuSeconds: spec.cpuPid === undefined ? undefined : serverCpu,
    cpuMs: cpuKnown ? cpu : undefined,
    ...(paired
      ? {
          pairedRequestsPerSecond: rateOf(theirs),
          slices: own.map((r, i) => ({ requestsPerSecond: rateOf([r]), pairedRequestsPerSecond: rateOf([theirs[i]!]) })),
        }
      : {}),
  };
}

process.once('message', (spec: LoadSpec) => {
  main(spec).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`load driver failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
});
