import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  analyzeBenchDatabase,
  BENCH_PASSWORD,
  createBenchDatabase,
  dropBenchStore,
  newBenchStore,
  seedUsers,
  serverVersions,
  sessionHealth,
} from './lib/bench-database';
import { scaleCpu } from './lib/cpu-accounting';
import { driveLoad } from './lib/load';
import type { LoadSpec, PairedLoad } from './load/load-spec';
import { machineInfo, versions } from './lib/machine';
import { parseOptions, UsageError, type BenchOptions } from './lib/options';
import { PRODUCTION_NODE_OPTIONS } from './lib/production-settings';
import { freePort, ROOT, runCommand, startNode, waitFor200, type Running } from './lib/processes';
import { writeReports, textTable } from './lib/report';
import type { BenchResults, RoundResult, ScenarioResult } from './lib/results';
import { SCENARIOS, type BenchUser, type ScenarioContext } from './lib/scenarios';
import { evaluateTargets } from './lib/targets';
import { login, refreshOnce, sessionIdOf } from './lib/api-client';

/**
 * `npm run bench`: builds and starts the production server on its own database and Redis prefix,
 * starts a bare Fastify baseline beside it, drives every scenario from a separate load-generator
 * process, and writes bench/results.{md,json,svg}. See bench/README.md.
 */
const log = (line: string): void => void process.stdout.write(`[bench] ${line}\n`);

async function main(options: BenchOptions): Promise<BenchResults> {
  const started = Date.now();
  const machine = machineInfo();
  log(`load average before: ${machine.loadAverageBefore.join(' ')} on ${machine.cpus} CPUs`);
  const store = newBenchStore(process.env);
  const logFile = join(tmpdir(), `rt-bench-${store.id}-server.log`);
  const serverSettings = {
    NODE_ENV: 'production',
    NODE_OPTIONS: PRODUCTION_NODE_OPTIONS,
    LOG_LEVEL: 'info',
    LLM_PROVIDER: 'offline',
    SMTP_URL: 'smtp://127.0.0.1:2525',
    DB_MIGRATIONS_RUN: 'true',
    TRUST_PROXY: 'true',
    RATE_LIMIT_DEFAULT_PER_MINUTE: '1000000000',
    AGENT_RUNS_PER_MINUTE: '1000000000',
    ...options.serverEnv,
  };
  const serverEnv = {
    ...serverSettings,
    JWT_SECRET: randomBytes(32).toString('hex'),
    DATABASE_URL: store.databaseUrl,
    REDIS_URL: store.redisUrl,
    REDIS_KEY_PREFIX: store.redisKeyPrefix,
  };
  const serverArgs =
    options.server === 'dist' ? [join(__dirname, 'out/dist/main.js')] : ['-r', 'ts-node/register/transpile-only', 'src/main.ts'];
  const profileArgs = ['--cpu-prof', '--cpu-prof-dir', join(options.outDir, 'profiles')];
  const startServer = async (profile = false): Promise<Running> =>
    startNode([...(profile ? profileArgs : []), ...serverArgs], serverEnv, await freePort(), logFile);

  let server: Running | undefined;
  let baseline: Running | undefined;
  try {
    if (options.server === 'dist' && !options.noBuild) {
      log('nest build -p bench/tsconfig.build.json, then scripts/bundle.mjs (the production build, as npm run build, into bench/out/dist)');
      await runCommand(join(ROOT, 'node_modules/.bin/nest'), ['build', '-p', 'bench/tsconfig.build.json']);
      await runCommand(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), join(__dirname, 'out/dist')]);
    }
    log(`database ${new URL(store.databaseUrl).pathname.slice(1)}, Redis prefix ${store.redisKeyPrefix}`);
    await createBenchDatabase(store);
    const seeded = await seedUsers(store, options.users);
    const v = { ...versions(), ...(await serverVersions(store)) };

    const coldSamples: number[] = [];
    for (let i = 0; i < options.coldStarts; i++) {
      const s = await startServer();
      try {
        coldSamples.push(await waitFor200(s, '/api/v1/health', 60_000));
      } finally {
        await s.stop();
      }
    }
    log(`cold start: ${coldSamples.map((c) => Math.round(c)).join(', ')} ms`);

    const argon2Seconds = options.smoke ? 1 : 5;
    const argon2Start = wanted(options, 'login') ? await argon2Rates(argon2Seconds) : undefined;
    const argon2 = argon2Start?.perSecond;
    if (argon2Start)
      log(
        `raw argon2 verify: ${Math.round(argon2Start.perSecond)}/s (${Object.entries(argon2Start.byMode)
          .map(([mode, rate]) => `${mode}: ${Math.round(rate)}/s`)
          .join(', ')})`,
      );

    server = await startServer(options.cpuProf);
    await waitFor200(server, '/api/v1/health', 60_000);
    const baselinePort = await freePort();
    baseline = startNode(
      ['-r', 'ts-node/register/transpile-only', join(__dirname, 'baseline-server.ts'), String(baselinePort)],
      { FLOOR_DATABASE_URL: store.databaseUrl, FLOOR_REDIS_URL: store.redisUrl, FLOOR_REDIS_PREFIX: store.redisKeyPrefix },
      baselinePort,
      '/dev/null',
    );
    await waitFor200(baseline, '/health', 30_000);

    const api = server.url;
    const users: BenchUser[] = [];
    for (const batch of chunks(seeded, 8)) {
      const tokens = await Promise.all(batch.map((u) => login(api, u.email, BENCH_PASSWORD)));
      batch.forEach((u, i) => users.push({ ...u, accessToken: tokens[i]!.access_token }));
    }
    let lastChains: { refreshToken: string; sessionId: string }[] = [];
    const ctx: ScenarioContext = {
      apiUrl: api,
      baselineUrl: baseline.url,
      users,
      password: BENCH_PASSWORD,
      options,
      openChains: async (count) => {
        lastChains = [];
        for (const batch of chunks(
          Array.from({ length: count }, (_, i) => users[i % users.length]!),
          8,
        )) {
          const sessions = await Promise.all(batch.map((u) => login(api, u.email, BENCH_PASSWORD)));
          lastChains.push(...sessions.map((t) => ({ refreshToken: t.refresh_token, sessionId: sessionIdOf(t.access_token) })));
        }
        return lastChains.map((c) => c.refreshToken);
      },
    };

    // The bare baseline is measured beside every scenario, by the same load-driver process, in
    // slices alternating with the scenario's (2 s each at the default 10 s), after a warm-up of its
    // own: on this machine the speed moves by tens of percent from one minute to the next, and a
    // baseline measured a few seconds before and after a scenario differed from the one in between.
    const baselineScenario = SCENARIOS.find((s) => s.name === 'baseline')!;
    const slices = Math.max(1, Math.min(5, Math.floor(options.duration / 2)));
    const pairedWithBaseline = async (): Promise<PairedLoad> => {
      const { url, connections, plans, ipBlock } = await baselineScenario.build(ctx);
      return { url, connections, plans, ipBlock, warmupSeconds: Math.min(1, options.warmup) };
    };

    const rounds: RoundResult[] = [];
    let refreshIntegrity: BenchResults['refreshIntegrity'];
    for (let round = 1; round <= options.rounds; round++) {
      const scenarios: ScenarioResult[] = [];
      for (const scenario of SCENARIOS.filter((s) => wanted(options, s.name))) {
        const isBaseline = scenario.name === 'baseline';
        const argon2Before = scenario.name === 'login' ? await argon2Rate(argon2Seconds) : undefined;
        const own = await scenario.build(ctx);
        const measured = scenario.server === 'baseline' ? baseline : server;
        const paired = isBaseline ? {} : { pairedWith: await pairedWithBaseline(), slices };
        const spec: LoadSpec = { ...own, ...paired, cpuPid: measured.child.pid };
        await analyzeBenchDatabase(store); // after what the build and earlier scenarios wrote
        const rssBeforeMB = server.rssMB();
        const r = await driveLoad(spec);
        const rssAfterMB = server.rssMB();
        const argon2After = argon2Before === undefined ? undefined : await argon2Rate(argon2Seconds);
        const pairedBaselineRps = isBaseline ? r.requestsPerSecond : r.pairedRequestsPerSecond!;
        const result: ScenarioResult = {
          name: scenario.name,
          description: scenario.description,
          connections: spec.connections,
          requestsPerSecond: r.requestsPerSecond,
          requests: r.requests,
          latencyP50Ms: r.latencyP50Ms,
          latencyP99Ms: r.latencyP99Ms,
          latencyMaxMs: r.latencyMaxMs,
          errors: r.errors + r.non2xx,
          statusCodes: r.statusCodes,
          pairedBaselineRequestsPerSecond: pairedBaselineRps,
          ...(r.slices ? { slices: r.slices } : {}),
          ratioToBaseline: isBaseline ? undefined : r.requestsPerSecond / pairedBaselineRps,
          ...(argon2Before !== undefined && argon2After !== undefined
            ? { pairedArgon2VerifyPerSecond: (argon2Before + argon2After) / 2 }
            : {}),
          serverCpuMsPerRequest:
            r.serverCpuSeconds !== undefined ? (r.serverCpuSeconds * 1000) / (r.requests + r.warmupRequests) : undefined,
          ...(r.cpuMs ? { cpuMsPerRequest: scaleCpu(r.cpuMs, 1 / (r.requests + r.warmupRequests)) } : {}),
          rssBeforeMB,
          rssAfterMB,
        };
        scenarios.push(result);
        log(
          `round ${round} ${scenario.name}: ${Math.round(r.requestsPerSecond)} req/s, p50 ${r.latencyP50Ms.toFixed(1)} ms, p99 ${r.latencyP99Ms.toFixed(1)} ms, errors ${result.errors} ${JSON.stringify(r.statusCodes)}`,
        );
        if (scenario.name === 'refresh') {
          const health = await sessionHealth(
            store,
            lastChains.map((c) => c.sessionId),
          );
          let stillRotate = 0;
          for (const token of r.refreshTokens) if (token !== undefined && (await refreshOnce(api, token))) stillRotate++;
          refreshIntegrity = { chains: lastChains.length, ...health, stillRotate };
        }
      }
      rounds.push({ round, scenarios, rssAfterMB: server.rssMB() });
    }

    const eventLoop = wanted(options, 'login') && wanted(options, 'health') ? await eventLoopCheck(ctx) : undefined;
    const finalRssMB = server.rssMB();
    const partial: Omit<BenchResults, 'targets'> = {
      date: new Date().toISOString(),
      totalSeconds: (Date.now() - started) / 1000,
      options,
      machine: { ...machine, loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100) },
      versions: v,
      serverSettings,
      raisedLimits: [
        'default per-IP limit (300/min) → RATE_LIMIT_DEFAULT_PER_MINUTE=1000000000',
        'agent runs (20/min per user) → AGENT_RUNS_PER_MINUTE=1000000000',
        'POST /auth/sessions (30 per 5 min per IP) and /auth/sessions/refresh (150 per 5 min per IP) have no setting: the server runs with TRUST_PROXY=true and the load generator sends a different X-Forwarded-For address (10.x.y.z) with every login and refresh request',
        'the per-email login backoff only counts failures; every bench login succeeds',
      ],
      argon2VerifyPerSecond: argon2,
      argon2VerifyPerSecondByMode: argon2Start?.byMode,
      coldStartMs: { samples: coldSamples, median: median(coldSamples) },
      rounds,
      eventLoop,
      refreshIntegrity,
      finalRssMB,
    };
    return { ...partial, targets: evaluateTargets(partial) };
  } finally {
    await baseline?.stop();
    await server?.stop();
    await dropBenchStore(store).catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
    rmSync(logFile, { force: true });
  }
}

/** /health latency from a second load generator while logins keep the CPU busy. */
async function eventLoopCheck(ctx: ScenarioContext): Promise<BenchResults['eventLoop']> {
  const loginScenario = SCENARIOS.find((s) => s.name === 'login')!;
  const loginSpec = { ...(await loginScenario.build(ctx)), ipBlock: 6 };
  const healthSpec = {
    ...loginSpec,
    connections: 1,
    ipBlock: 7,
    plans: [{ requests: [{ method: 'GET' as const, path: '/api/v1/health' }] }],
  };
  const [logins, health] = await Promise.all([driveLoad(loginSpec), driveLoad(healthSpec)]);
  log(`event loop: /health p99 ${health.latencyP99Ms} ms while logins ran at ${Math.round(logins.requestsPerSecond)}/s`);
  return {
    healthP50Ms: health.latencyP50Ms,
    healthP99Ms: health.latencyP99Ms,
    healthErrors: health.errors + health.non2xx,
    loginRps: logins.requestsPerSecond,
    loginErrors: logins.errors + logins.non2xx,
  };
}

async function argon2Rate(seconds: number): Promise<number> {
  return (await argon2Rates(seconds)).perSecond;
}

/** bench/argon2-rate.ts in its own process: the ceiling and each way of running it. */
async function argon2Rates(seconds: number): Promise<{ perSecond: number; byMode: Record<string, number> }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'argon2-rate.ts'), String(seconds)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`argon2 measurement failed (${code})`);
  return JSON.parse(out) as { perSecond: number; byMode: Record<string, number> };
}

const wanted = (options: BenchOptions, name: string): boolean => options.only.length === 0 || options.only.includes(name);

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}
main(options).then(
  (results) => {
    writeReports(options.outDir, results);
    process.stdout.write(`\n${textTable(results)}\n\nwrote ${join(options.outDir, 'results.md')}, results.json, results.svg\n`);
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
