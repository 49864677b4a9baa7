import 'reflect-metadata';
import { verify } from '@node-rs/argon2';
import { HASH_CONCURRENCY, PasswordHasher } from '../src/modules/auth/password-hasher';

/**
 * The physical ceiling of login: argon2id verifications per second with the app's own
 * parameters (the hash is made by its PasswordHasher), on the same libuv thread pool size the
 * server has, nothing else running. Measured with as many verifications in flight as the server
 * allows itself (HASH_CONCURRENCY) and with 8 (all 4 pool threads busy), `seconds` each; the
 * ceiling is the faster of the two, so capping the server's concurrency cannot lower the bar.
 * Prints one JSON line: {"perSecond": n, "byConcurrency": {"<c>": n, ...}}.
 */
async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const concurrencies = (process.argv[3] ?? `${HASH_CONCURRENCY},8`).split(',').map(Number);
  const hash = await new PasswordHasher().hash('bench-password-0123');
  const byConcurrency: Record<string, number> = {};
  for (const concurrency of concurrencies) byConcurrency[concurrency] = await rate(hash, seconds, concurrency);
  process.stdout.write(`${JSON.stringify({ perSecond: Math.max(...Object.values(byConcurrency)), byConcurrency })}\n`);
}

/** Raw `verify` calls (not the hasher's, which would cap the concurrency). */
async function rate(hash: string, seconds: number, concurrency: number): Promise<number> {
  for (let i = 0; i < concurrency; i++) await verify(hash, 'bench-password-0123'); // warm-up
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        if (!(await verify(hash, 'bench-password-0123'))) throw new Error('verification failed');
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
