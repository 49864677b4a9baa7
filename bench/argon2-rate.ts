import 'reflect-metadata';
import { Worker } from 'node:worker_threads';
import { verify } from '@node-rs/argon2';
import { HASH_CONCURRENCY, PasswordHasher } from '../src/modules/auth/password-hasher';

/**
 * The physical ceiling of login: argon2id verifications per second with the app's own
 * parameters (the hash is made by its PasswordHasher), nothing else running, `seconds` per way
 * of running them:
 * - `threads:<n>`: n threads each calling argon2's synchronous verify back to back, with no
 *   messages between them and no event loop involved (how the server's hash threads run, minus
 *   all dispatch);
 * - `<c>`: c of argon2's async verifications in flight on libuv's thread pool (the server's
 *   thread pool size), refilled as each completes.
 * The ceiling is the fastest of them, so no way of running the server can flatter the bar.
 * Prints one JSON line: {"perSecond": n, "byMode": {"<mode>": n, ...}}.
 */
async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const modes = (process.argv[3] ?? `threads:${HASH_CONCURRENCY},${HASH_CONCURRENCY},8`).split(',');
  const hash = await new PasswordHasher().hash(PASSWORD);
  const byMode: Record<string, number> = {};
  for (const mode of modes)
    byMode[mode] = mode.startsWith('threads:')
      ? await threadsRate(hash, seconds, Number(mode.slice('threads:'.length)))
      : await poolRate(hash, seconds, Number(mode));
  process.stdout.write(`${JSON.stringify({ perSecond: Math.max(...Object.values(byMode)), byMode })}\n`);
}

const PASSWORD = 'bench-password-0123';

/** Raw `verify` calls on libuv's pool (not the hasher's, which would cap the concurrency). */
async function poolRate(hash: string, seconds: number, concurrency: number): Promise<number> {
  for (let i = 0; i < concurrency; i++) await verify(hash, PASSWORD); // warm-up
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        if (!(await verify(hash, PASSWORD))) throw new Error('verification failed');
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

const THREAD_LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
const { verifySync } = require(workerData.argon2);
const { hash, password, seconds } = workerData;
verifySync(hash, password); // warm-up
parentPort.postMessage('ready');
parentPort.once('message', () => {
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    if (!verifySync(hash, password)) throw new Error('verification failed');
    done++;
  }
  parentPort.postMessage({ done, ms: performance.now() - started });
});
`;

/** `count` threads verifying back to back, started together once all are warm. */
async function threadsRate(hash: string, seconds: number, count: number): Promise<number> {
  const workers = Array.from(
    { length: count },
    () =>
      new Worker(THREAD_LOOP, {
        eval: true,
        execArgv: [],
        workerData: { argon2: require.resolve('@node-rs/argon2'), hash, password: PASSWORD, seconds },
      }),
  );
  const next = (worker: Worker): Promise<unknown> =>
    new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  await Promise.all(workers.map(next));
  const results = workers.map(next) as Promise<{ done: number; ms: number }>[];
  for (const worker of workers) worker.postMessage('go');
  const counts = await Promise.all(results);
  await Promise.all(workers.map((worker) => worker.terminate()));
  return counts.reduce((sum, { done, ms }) => sum + done / (ms / 1000), 0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
