import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG per refill. */
const POOL_BYTES = 4096;

/**
 * Random bytes from the CSPRNG (node:crypto's randomFillSync), drawn from a pool that is refilled
 * 4 KiB at a time. Written here because node:crypto pools only for `randomUUID`: every
 * `randomBytes` (and `getRandomValues`) call pays OpenSSL 3's fixed cost per call, measured at
 * ≈ 5 µs on the bench machine for 12 bytes as for 4 KiB, and a refresh draws twice (new token,
 * seal IV). Pooled, a draw is a copy (bench/results.md, session 9).
 *
 * The bytes are the CSPRNG's, each handed out once; a handed-out range is zeroed in the pool at
 * once, so the pool only ever holds bytes no one has received yet (as the DRBG's own state does).
 */
export class RandomPool {
  private readonly pool: Buffer;
  private offset: number;

  constructor(
    private readonly fill: (buffer: Buffer) => void = randomFillSync,
    size = POOL_BYTES,
  ) {
    this.pool = Buffer.alloc(size);
    this.offset = size;
  }

  /** `size` fresh random bytes in a buffer of their own (never a view of the pool). */
  bytes(size: number): Buffer {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
    if (size > this.pool.length) {
      const large = Buffer.alloc(size);
      this.fill(large);
      return large;
    }
    const start = this.take(size);
    const out = Buffer.from(this.pool.subarray(start, start + size));
    this.pool.fill(0, start, start + size);
    return out;
  }

  /** Fills `target` with fresh random bytes; it may be no larger than the pool. */
  fillArray(target: Uint8Array): void {
    const size = target.byteLength;
    if (size > this.pool.length) throw new RangeError(`cannot fill ${size} bytes from a pool of ${this.pool.length}`);
    const start = this.take(size);
    target.set(this.pool.subarray(start, start + size));
    this.pool.fill(0, start, start + size);
  }

  /** Where the next `size` unused bytes start, refilling the pool (and dropping its rest) if they do not fit. */
  private take(size: number): number {
    if (this.offset + size > this.pool.length) {
      this.fill(this.pool);
      this.offset = 0;
    }
    const start = this.offset;
    this.offset += size;
    return start;
  }
}

const shared = new RandomPool();

/** `size` random bytes from the CSPRNG, as `crypto.randomBytes(size)`, pooled (see {@link RandomPool}). */
export function secureRandomBytes(size: number): Buffer {
  return shared.bytes(size);
}
