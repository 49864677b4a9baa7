import { ConcurrencyLimit, ConcurrencyLimitFull, HASH_CONCURRENCY, HASHES_IN_FLIGHT, PasswordHasher } from './password-hasher';

describe('ConcurrencyLimit', () => {
  it('runs at most `limit` tasks at once, the others in arrival order, and frees a slot whatever the outcome', async () => {
    const limit = new ConcurrencyLimit(2);
    const started: number[] = [];
    const release: (() => void)[] = [];
    let peak = 0;
    const task = (i: number, fail = false) =>
      limit.run(async () => {
        started.push(i);
        peak = Math.max(peak, limit.active);
        await new Promise<void>((resolve) => release.push(resolve));
        if (fail) throw new Error(`task ${i} failed`);
        return i;
      });
    const results = [task(0, true), task(1), task(2), task(3), task(4)].map((p) => p.catch((e: Error) => e.message));
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    while (release.length > 0) {
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(results)).toEqual(['task 0 failed', 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(limit.active).toBe(0);
  });

  it('refuses a task at once, without running it, when `maxWaiting` tasks already wait; takes tasks again once they drain', async () => {
    const limit = new ConcurrencyLimit(1, 2);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ran: number[] = [];
    const held = [0, 1, 2].map((i) => limit.run(async () => (ran.push(i), gate)));
    const extra = jest.fn(() => Promise.resolve('ran'));
    await expect(limit.run(extra)).rejects.toBeInstanceOf(ConcurrencyLimitFull);
    expect(extra).not.toHaveBeenCalled();
    release();
    await Promise.all(held);
    expect(ran).toEqual([0, 1, 2]);
    expect(limit.active).toBe(0);
    await expect(limit.run(extra)).resolves.toBe('ran');
  });
});

describe('PasswordHasher', () => {
  it('hands at most HASHES_IN_FLIGHT hashes to its threads at once (two per thread, one thread per core, at most 3), and uses them all', async () => {
    expect(HASH_CONCURRENCY).toBeGreaterThanOrEqual(1);
    expect(HASH_CONCURRENCY).toBeLessThanOrEqual(3);
    expect(HASHES_IN_FLIGHT).toBe(2 * HASH_CONCURRENCY);
    const hasher = new PasswordHasher();
    const stored = await hasher.hash('correct horse');
    let peak = 0;
    let sampling = true;
    const sample = (): void => {
      peak = Math.max(peak, PasswordHasher.hashing);
      if (sampling) setImmediate(sample);
    };
    sample();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => hasher.verify(stored, i % 2 ? 'correct horse' : 'wrong')));
    sampling = false;
    expect(results).toEqual([false, true, false, true, false, true, false, true, false, true]);
    expect(peak).toBe(HASHES_IN_FLIGHT);
    expect(PasswordHasher.hashing).toBe(0);
  });

  it('verifies a dummy hash made on first use when start-up has not made it yet (unknown emails), always false', async () => {
    const hasher = new PasswordHasher();
    const dummy = (hasher as unknown as { dummy(): Promise<string> }).dummy.bind(hasher);
    await expect(hasher.verifyDummy('dummy-password-for-timing-equalization')).resolves.toBe(false);
    const made = await dummy();
    expect(made).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await dummy()).toBe(made); // made once
  });

  it('never authenticates a malformed stored hash', async () => {
    expect(await new PasswordHasher().verify('$argon2id$v=19$m=19456,t=2,p=1$broken', 'anything')).toBe(false);
  });
});
