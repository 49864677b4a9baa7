import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

const ROOT = join(__dirname, '../../..');

/**
 * What a spawned server or CLI needs to run on this test run's database and Redis prefix: the
 * schema is already migrated (global set-up), logs at warn. Tests spread their own settings over it.
 */
export function spawnEnv(): Record<string, string | undefined> {
  return {
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: process.env.REDIS_KEY_PREFIX,
    DB_MIGRATIONS_RUN: 'false',
    LOG_LEVEL: 'warn',
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Runs `src/main.ts` as its own process (transpile-only ts-node, no build step), the way
 * `node dist/main.js` runs in production: real signals, real exit codes. `args` runs something
 * else instead (a built main.js).
 */
export function startServer(env: Record<string, string | undefined>, port?: number, args?: readonly string[]): ServerProcess {
  const child = spawn(process.execPath, [...(args ?? ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src/main.ts')])], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, PORT: String(port ?? 0) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return { child, url: `http://127.0.0.1:${port ?? 0}`, stderr: () => err, stdout: () => out, exited };
}
