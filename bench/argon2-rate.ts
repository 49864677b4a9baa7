import 'reflect-metadata';
import { verify } from '@node-rs/argon2';
import { PasswordHasher } from '../src/modules/auth/password-hasher';

/**
 * The physical ceiling of login: argon2id verifications per second with the app's own
 * parameters (the hash is made by its PasswordHasher), on the same libuv thread pool size the
 * server has, nothing else running. Prints one JSON line: {"perSecond": n, "verifications": n}.
 */
async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const concurrency = Number(process.argv[3] ?? 8);
  const hash = await new PasswordHasher().hash('bench-password-0123');
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
  const elapsed = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ perSecond: done / elapsed, verifications: done })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
