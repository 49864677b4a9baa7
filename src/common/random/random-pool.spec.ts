import { RandomPool, secureRandomBytes } from './random-pool';

/** A stand-in for the CSPRNG that writes 0, 1, 2, … across calls, and remembers the buffers it filled. */
function countingFill(): { fill: (buffer: Buffer) => void; filled: Buffer[] } {
  let next = 0;
  const filled: Buffer[] = [];
  return {
    filled,
    fill: (buffer) => {
      filled.push(buffer);
      for (let i = 0; i < buffer.length; i++) buffer[i] = next++ & 0xff;
    },
  };
}

describe('RandomPool', () => {
  it('hands out each drawn byte once, in order, and refills only when a draw does not fit', () => {
    const { fill, filled } = countingFill();
    const pool = new RandomPool(fill, 8);

    expect([...pool.bytes(3)]).toEqual([0, 1, 2]);
    expect([...pool.bytes(3)]).toEqual([3, 4, 5]);
    expect(filled).toHaveLength(1);
    // Two bytes left: the next draw of three takes a fresh fill and drops those two, never reusing them.
    expect([...pool.bytes(3)]).toEqual([8, 9, 10]);
    expect(filled).toHaveLength(2);
    expect([...pool.bytes(5)]).toEqual([11, 12, 13, 14, 15]);
    expect(filled).toHaveLength(2);
  });

  it('returns copies, and zeroes what it handed out, so the pool never holds a given-out secret', () => {
    const { fill, filled } = countingFill();
    const pool = new RandomPool(fill, 8);
    const first = pool.bytes(4);
    const inner = filled[0]!;

    expect(first.buffer).not.toBe(inner.buffer);
    expect([...inner]).toEqual([0, 0, 0, 0, 4, 5, 6, 7]);
    first.fill(0xee);
    expect([...pool.bytes(4)]).toEqual([4, 5, 6, 7]);
    expect([...inner]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('fills a draw larger than the pool on its own, leaving the pool as it was', () => {
    const { fill, filled } = countingFill();
    const pool = new RandomPool(fill, 8);
    expect([...pool.bytes(2)]).toEqual([0, 1]);

    const large = pool.bytes(20);
    expect(large).toHaveLength(20);
    expect(filled[1]).toBe(large);
    expect([...pool.bytes(2)]).toEqual([2, 3]);
    expect(filled).toHaveLength(2);
  });

  it('fills a given array from the same pool, zeroing what it handed out, and refuses more than the pool holds', () => {
    const { fill, filled } = countingFill();
    const pool = new RandomPool(fill, 8);
    const first = new Uint8Array(3);
    pool.fillArray(first);
    expect([...first]).toEqual([0, 1, 2]);
    expect([...pool.bytes(2)]).toEqual([3, 4]);
    expect([...filled[0]!]).toEqual([0, 0, 0, 0, 0, 5, 6, 7]);
    const second = new Uint8Array(4);
    pool.fillArray(second);
    expect([...second]).toEqual([8, 9, 10, 11]);
    expect(() => pool.fillArray(new Uint8Array(9))).toThrow(RangeError);
    expect(filled).toHaveLength(2);
  });

  it('refuses sizes that are not non-negative integers, and gives an empty buffer for 0', () => {
    const pool = new RandomPool(countingFill().fill, 8);
    expect(() => pool.bytes(-1)).toThrow(RangeError);
    expect(() => pool.bytes(1.5)).toThrow(RangeError);
    expect(pool.bytes(0)).toHaveLength(0);
  });
});

describe('secureRandomBytes', () => {
  it('draws from the real CSPRNG: the requested length, and no two draws alike across many refills', () => {
    const seen = new Set<string>();
    // 12- and 32-byte draws (a seal IV, a refresh token) over ≈ 11 refills of the 4 KiB pool.
    for (let i = 0; i < 1000; i++) {
      const size = i % 2 === 0 ? 12 : 32;
      const bytes = secureRandomBytes(size);
      expect(bytes).toHaveLength(size);
      seen.add(bytes.toString('hex'));
    }
    expect(seen.size).toBe(1000);
  });
});
