import { readFileSync } from 'node:fs';
import { eventually, request } from '../../e2e/support/http';
import { freePort, startServer, type ServerProcess } from '../../e2e/support/server-process';
import { currentDatabase } from './db';

/** A fixed key so tests can forge tokens signed with the server's own key (and with others). */
export const JWT_SECRET = 'resilience-suite-jwt-secret-0123456789abcdef';

/** Settings every spawned server shares: this file's database, this run's Redis prefix, quiet logs. */
export function baseEnv(): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: currentDatabase(),
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: process.env.REDIS_KEY_PREFIX,
    // A file's own database is created and migrated by its first server (advisory lock: one at a time).
    DB_MIGRATIONS_RUN: currentDatabase() === process.env.DATABASE_URL ? 'false' : 'true',
    LOG_LEVEL: 'warn',
    JWT_SECRET,
    LLM_PROVIDER: 'offline',
    // Many clients behind one test process: each request names its own client IP.
    TRUST_PROXY: 'true',
    RATE_LIMIT_DEFAULT_PER_MINUTE: '100000',
    // A mail that failed on a busy test machine is retried quickly rather than after 10 s.
    MAIL_RETRY_BASE_MS: '200',
    // Fewer glibc malloc arenas, so the argon2 worker threads' freed 19 MiB blocks are reused
    // rather than kept as RSS in per-thread arenas (fragmentation, not a leak). Not yet set in the
    // Dockerfile or the k8s Deployment: on its own it did not bring the soak's RSS growth under 10 %.
    MALLOC_ARENA_MAX: '2',
  };
}

export interface Server {
  readonly url: string;
  readonly port: number;
  readonly process: ServerProcess;
  readonly pid: number;
  /** Everything the process wrote (stdout: pino JSON lines; stderr: start-up and shutdown lines). */
  output(): string;
  /** Resident set size in bytes, from /proc. */
  rss(): number;
  /** SIGTERM and wait for the exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | string>;
  kill(): Promise<number | string>;
}

/**
 * Spawns the real server (src/main.ts in its own process, see server-process.ts) and waits until
 * it answers liveness. `env` is merged over {@link baseEnv}.
 */
export async function launchServer(
  env: Record<string, string | undefined> = {},
  options: { port?: number; readyTimeoutMs?: number } = {},
): Promise<Server> {
  const port = options.port ?? (await freePort());
  const proc = startServer({ ...baseEnv(), ...env }, port);
  let out = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const server: Server = {
    url,
    port,
    process: proc,
    pid: proc.child.pid ?? -1,
    output: () => `${proc.stderr()}\n${out}`,
    rss: () => {
      const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
      return Number(kb) * 1024;
    },
    stop: async (timeoutMs = 15_000) => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.exited;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
      try {
        return await proc.exited;
      } finally {
        clearTimeout(timer);
      }
    },
    kill: async () => {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      return proc.exited;
    },
  };
  let exited = false;
  void proc.exited.then(() => (exited = true));
  try {
    await eventually(
      async () => {
        if (exited) throw new Error(`server exited during start-up:\n${server.output().slice(-4000)}`);
        const res = await request(url, 'GET', '/api/v1/health').catch(() => undefined);
        return res?.status === 200;
      },
      options.readyTimeoutMs ?? 60_000,
      100,
    );
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server;
}

/**
 * Lines the server logged as unexpected errors (the ProblemFilter's 500s). Pass `since` (an
 * earlier result's length) to see only the new ones.
 */
export function unexpectedErrors(server: Server, since = 0): string[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.includes('unexpected error') || line.includes('"statusCode":500'))
    .slice(since)
    .map((line) => line.slice(0, 2000));
}
