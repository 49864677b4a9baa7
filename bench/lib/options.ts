import { join } from 'node:path';

/** Command-line settings of `npm run bench`. Every figure in the results names the settings it ran with. */
export interface BenchOptions {
  /** Seconds of measurement per scenario (after the warm-up). */
  readonly duration: number;
  /** Seconds of unrecorded load before each measurement (JIT, pools, caches). */
  readonly warmup: number;
  /** Concurrent connections of the load generator for the cheap scenarios. */
  readonly connections: number;
  /** Connections for the argon2-bound login scenario (more only queues behind the hash threads). */
  readonly loginConnections: number;
  /** Seeded users whose tokens `/users/me` and the mixed scenario cycle through. */
  readonly users: number;
  /** Process starts measured for the cold-start median. */
  readonly coldStarts: number;
  /** Rounds of the whole scenario set (the second one checks RSS growth). */
  readonly rounds: number;
  /**
   * `dist`: the production build (`nest build`, as `npm run build`, into bench/out/dist so a build
   * running elsewhere in the tree cannot swap files under the bench) run with plain `node`;
   * `source`: ts-node, no build (smoke).
   */
  readonly server: 'dist' | 'source';
  /** Only these scenarios (all when empty). */
  readonly only: readonly string[];
  /** Where results.md, results.json and results.svg go. */
  readonly outDir: string;
  readonly smoke: boolean;
  /** Write a V8 CPU profile of the API server (node --cpu-prof) to <out>/profiles. */
  readonly cpuProf: boolean;
  /** Extra server settings for experiments (`--env LOG_LEVEL=warn,DB_POOL_SIZE=40`), recorded in the results. */
  readonly serverEnv: Readonly<Record<string, string>>;
  /** Reuse bench/out/dist from an earlier run instead of building. */
  readonly noBuild: boolean;
}

const BENCH_DIR = join(__dirname, '..');

const USAGE = `usage: npm run bench -- [--duration S] [--warmup S] [--connections N] [--login-connections N]
       [--users N] [--cold-starts N] [--rounds N] [--server dist|source] [--only a,b] [--out DIR] [--smoke] [--cpu-prof] [--no-build] [--env K=V,K=V]`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const smoke = argv.includes('--smoke');
  const cpuProf = argv.includes('--cpu-prof');
  const noBuild = argv.includes('--no-build');
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--smoke' || arg === '--cpu-prof' || arg === '--no-build') continue;
    if (arg === '--help' || arg === '-h') throw new UsageError(USAGE);
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    if (!flag.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"\n${USAGE}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value\n${USAGE}`);
    values.set(flag.slice(2), value);
  }
  const num = (name: string, fallback: number, min = 0): number => {
    const raw = values.get(name);
    values.delete(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const options: Omit<BenchOptions, 'serverEnv'> = {
    smoke,
    cpuProf,
    noBuild,
    duration: num('duration', smoke ? 1 : 10, 0.5),
    warmup: num('warmup', smoke ? 0 : 2),
    connections: Math.round(num('connections', smoke ? 4 : 50, 1)),
    loginConnections: Math.round(num('login-connections', smoke ? 2 : 16, 1)),
    users: Math.round(num('users', smoke ? 5 : 200, 1)),
    coldStarts: Math.round(num('cold-starts', smoke ? 1 : 5, 0)),
    rounds: Math.round(num('rounds', smoke ? 1 : 2, 1)),
    server: pick(values, 'server', smoke ? 'source' : 'dist', ['dist', 'source'] as const),
    only: (values.get('only') ?? (smoke ? 'baseline,health,users-me,login' : '')).split(',').filter((s) => s.length > 0),
    outDir: values.get('out') ?? (smoke ? join(BENCH_DIR, 'out', 'smoke') : BENCH_DIR),
  };
  const serverEnv = Object.fromEntries(
    (values.get('env') ?? '')
      .split(',')
      .filter((s) => s.includes('='))
      .map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]),
  );
  values.delete('env');
  values.delete('only');
  values.delete('out');
  if (values.size > 0) throw new UsageError(`unknown option --${[...values.keys()][0]}\n${USAGE}`);
  return { ...options, serverEnv };
}

function pick<T extends string>(values: Map<string, string>, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = values.get(name);
  values.delete(name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return raw as T;
}

export class UsageError extends Error {}
