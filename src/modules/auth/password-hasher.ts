import { availableParallelism } from 'node:os';
import type { Options } from '@node-rs/argon2';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { authError } from './auth.errors';
import { HashTaskError, HashThreads } from './hash-threads';

/**
 * argon2id with OWASP's current minimum (m = 19 MiB, t = 2, p = 1), computed on
 * {@link HashThreads}, so hashing never blocks the event loop.
 */
const OPTIONS: Options = {
  // `Algorithm` is an ambient const enum, which isolatedModules cannot inline: 2 is Argon2id.
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/**
 * Hashes computed at once (hash threads): one per core, at most 3. More would only share the
 * cores (and their caches: each hash works through 19 MiB) without finishing sooner: 2 at a time
 * verified 130–138/s on the 2-core bench machine, 4 at a time 122–125/s. The cap holds where
 * the core count overstates the CPU the process may use (a container's CPU quota) and bounds
 * argon2's memory (19 MiB a hash).
 */
export const HASH_CONCURRENCY = Math.max(1, Math.min(availableParallelism(), 3));

/**
 * Hashes handed to the threads at once: each thread holds its next task while it computes one,
 * so it never waits for the event loop between two. The rest wait in {@link ConcurrencyLimit},
 * which can refuse (503) and where a task costs nothing until it starts.
 */
export const HASHES_IN_FLIGHT = 2 * HASH_CONCURRENCY;

/**
 * Hashes allowed to wait for a slot, in the whole process: at the bench machine's ≈ 120
 * verifications a second, about 2 s of queued work. Past that a login flood is answered at once
 * with 503 `server_busy` (and Retry-After) instead of queueing without end: every caller would
 * otherwise wait longer and longer, and hashes would still be computed for callers that gave up.
 */
export const MAX_WAITING_HASHES = 256;

/** Seconds a caller refused with `server_busy` is asked to wait (Retry-After). */
const BUSY_RETRY_AFTER_SECONDS = 2;

/** {@link ConcurrencyLimit.run} when `maxWaiting` tasks already wait. */
export class ConcurrencyLimitFull extends Error {
  constructor() {
    super('too many tasks waiting for a slot');
    this.name = 'ConcurrencyLimitFull';
  }
}

/**
 * Runs at most `limit` tasks at once, the rest in arrival order, refusing a task when
 * `maxWaiting` already wait. By hand: p-limit, the usual package, is ESM-only and this build is
 * CommonJS, and has no bound on its queue; the logic is these few lines.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting = Number.POSITIVE_INFINITY,
  ) {}

  get active(): number {
    return this.running;
  }

  /** Rejects with {@link ConcurrencyLimitFull}, without running `task`, when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) throw new ConcurrencyLimitFull();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter (running stays the same), or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

@Injectable()
export class PasswordHasher implements OnModuleInit {
  /** Shared by every hasher of the process: the cores are. */
  private static readonly threads = new HashThreads(HASH_CONCURRENCY);
  private static readonly slots = new ConcurrencyLimit(HASHES_IN_FLIGHT, MAX_WAITING_HASHES);

  /** Runs `task` in a slot; 503 `server_busy` when the queue is full. */
  private static async limited<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await PasswordHasher.slots.run(task);
    } catch (error) {
      if (error instanceof ConcurrencyLimitFull)
        throw authError('server_busy', { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS, cause: error });
      throw error;
    }
  }

  /** Hashes handed to the hash threads and not yet answered, in the whole process. */
  static get hashing(): number {
    return PasswordHasher.threads.inFlight;
  }

  /**
   * Verified when the email is unknown, so login costs the same whether or not the account
   * exists. Made with the real parameters (never a hard-coded hash that could drift) and awaited
   * at start-up: an unknown-email login that had to wait for it would take two hashes' time and
   * tell that the account does not exist. (Not awaiting it saved 30–100 ms of start-up, which
   * cold-start runs could not even show.) A failed attempt is dropped, so the next use tries again.
   */
  private dummyHash?: Promise<string>;

  async onModuleInit(): Promise<void> {
    await this.dummy();
  }

  private dummy(): Promise<string> {
    if (!this.dummyHash) {
      const made = PasswordHasher.threads.hash('dummy-password-for-timing-equalization', OPTIONS);
      made.catch(() => {
        if (this.dummyHash === made) this.dummyHash = undefined;
      });
      this.dummyHash = made;
    }
    return this.dummyHash;
  }

  /** 503 `server_busy` when {@link MAX_WAITING_HASHES} hashes already wait. */
  hash(password: string): Promise<string> {
    return PasswordHasher.limited(() => PasswordHasher.threads.hash(password, OPTIONS));
  }

  /** 503 `server_busy` when {@link MAX_WAITING_HASHES} hashes already wait: never a false "wrong password". */
  verify(passwordHash: string, password: string): Promise<boolean> {
    return PasswordHasher.limited(async () => {
      try {
        return await PasswordHasher.threads.verify(passwordHash, password);
      } catch (error) {
        if (error instanceof HashTaskError) return false; // a malformed stored hash never authenticates
        throw error;
      }
    });
  }

  /** Same cost as {@link verify}; always false. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(await this.dummy(), password);
    return false;
  }
}
