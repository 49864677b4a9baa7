import autocannon from 'autocannon';
import type { ClientPlan, LoadResult, LoadSpec, PlannedRequest } from './load-spec';

/**
 * The load generator, in its own process so its CPU use is not the server's. Receives one
 * LoadSpec over IPC, runs an unrecorded warm-up and then the measurement with autocannon, and
 * answers with a LoadResult.
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

async function run(spec: LoadSpec, states: PlanState[], seconds: number): Promise<autocannon.Result> {
  let clientIndex = 0;
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    timeout: 30,
    // Each client gets its own plan (its users' tokens, its refresh chain) at connection set-up.
    setupClient: (client) => {
      const k = clientIndex++ % spec.plans.length;
      const plan: ClientPlan = spec.plans[k]!;
      client.setRequests(plan.requests.map((r) => toAutocannon(r, states[k]!, spec.ipBlock)));
    },
    requests: spec.plans[0]!.requests.map((r) => toAutocannon(r, states[0]!, spec.ipBlock)),
  });
  return instance;
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  const states: PlanState[] = spec.plans.map((p) => ({ refreshToken: p.refreshToken }));
  const warmup = spec.warmupSeconds > 0 ? await run(spec, states, spec.warmupSeconds) : undefined;
  const r = await run(spec, states, spec.durationSeconds);
  return {
    requestsPerSecond: r.requests.average,
    requests: r.requests.total,
    warmupRequests: warmup?.requests.total ?? 0,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    latencyMaxMs: r.latency.max,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count])),
    seconds: r.duration,
    refreshTokens: states.map((s) => s.refreshToken),
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
