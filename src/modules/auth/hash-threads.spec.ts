import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { Logger } from '@nestjs/common';
import type { Options } from '@node-rs/argon2';
import { HashTaskError, HashThreadDied, HashThreads } from './hash-threads';

const OPTIONS: Options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** The threads' workers and their tasks (private: reached so the tests can watch and kill them). */
const threadsOf = (threads: HashThreads): { worker: Worker; pending: Map<number, unknown> }[] =>
  (threads as unknown as { threads: { worker: Worker; pending: Map<number, unknown> }[] }).threads;
const workersOf = (threads: HashThreads): Worker[] => threadsOf(threads).map((thread) => thread.worker);

describe('HashThreads', () => {
  let threads: HashThreads;

  beforeEach(() => {
    threads = new HashThreads(2);
  });

  afterEach(async () => {
    await threads.close();
  });

  it('hashes and verifies with argon2id; a malformed hash fails with HashTaskError', async () => {
    const stored = await threads.hash('correct horse', OPTIONS);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await threads.verify(stored, 'correct horse')).toBe(true);
    expect(await threads.verify(stored, 'wrong')).toBe(false);
    await expect(threads.verify('not-a-hash', 'correct horse')).rejects.toBeInstanceOf(HashTaskError);
    expect(threads.inFlight).toBe(0);
  });

  it('spreads tasks over its threads, each holding the next task while it computes one', async () => {
    const stored = await threads.hash('pw', OPTIONS);
    // Time one verification, with both threads started and warm.
    await Promise.all([threads.verify(stored, 'pw'), threads.verify(stored, 'pw')]);
    const t0 = performance.now();
    await threads.verify(stored, 'pw');
    const one = performance.now() - t0;
    expect(workersOf(threads)).toHaveLength(2);

    // Four tasks, then the event loop held busy far longer than two verifications each take: the
    // threads must go from their first task to their second without it.
    let settled = 0;
    const tasks = Array.from({ length: 4 }, () => threads.verify(stored, 'pw').then((ok) => (settled++, ok)));
    expect(threads.inFlight).toBe(4);
    const busyUntil = performance.now() + Math.max(10 * one, 500);
    while (performance.now() < busyUntil); // blocks the event loop on purpose
    // All four answers are already waiting: they arrive with the next turns of the loop, well
    // before a second verification could have been computed had it started only now.
    const deadline = performance.now() + one / 2;
    while (settled < 4 && performance.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(4);
    expect(await Promise.all(tasks)).toEqual([true, true, true, true]);
  });

  it('fails the tasks of a thread that dies with HashThreadDied, and replaces the thread', async () => {
    const stored = await threads.hash('pw', OPTIONS);
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const task = threads.verify(stored, 'pw');
    const holder = threadsOf(threads).find((thread) => thread.pending.size > 0)!.worker;
    await holder.terminate();
    await expect(task).rejects.toBeInstanceOf(HashThreadDied);
    expect(workersOf(threads)).not.toContain(holder);
    expect(logged).toHaveBeenCalledWith(
      { event: 'auth.hash_thread_died', reason: expect.stringMatching(/^hash thread exited with code \d+$/), failed_tasks: 1 },
      expect.stringMatching(/^hash thread exited with code \d+; 1 task\(s\) failed, the next task starts a new thread$/),
    );
    logged.mockRestore();
    expect(await threads.verify(stored, 'pw')).toBe(true);
    expect(threads.inFlight).toBe(0);
  });

  it('keeps the process alive while it has work, and not once idle', async () => {
    // A fresh process with nothing but the threads: it must print the hash (not exit before the
    // answer) and then exit by itself (idle threads hold nothing).
    const script = `
      const { HashThreads } = require('./src/modules/auth/hash-threads');
      new HashThreads(2).hash('pw', ${JSON.stringify(OPTIONS)}).then((h) => process.stdout.write(h.slice(0, 9)));`;
    const { error, stdout } = await new Promise<{ error: Error | null; stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-e', script],
        { cwd: join(__dirname, '../../..'), encoding: 'utf8', timeout: 30_000 },
        (error, stdout) => resolve({ error, stdout }),
      ),
    );
    expect(error).toBeNull(); // killed at the timeout if the idle threads held the process
    expect(stdout).toBe('$argon2id');
  }, 60_000);
});
