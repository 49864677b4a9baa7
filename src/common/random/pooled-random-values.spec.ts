import { webcrypto } from 'node:crypto';
import { installPooledRandomValues } from './pooled-random-values';

type GetRandomValues = (this: unknown, array: Uint8Array | Uint32Array | Float32Array | undefined) => unknown;

/** The function as a value, to call with any receiver. */
const getRandomValuesOf = (holder: object): GetRandomValues => Reflect.get(holder, 'getRandomValues') as GetRandomValues;
/** Node's own implementation, which the install shadows on the instance and leaves on the prototype. */
const nodeGetRandomValues = getRandomValuesOf(Object.getPrototypeOf(webcrypto) as object);

function errorOf(run: () => unknown): { name: string; code?: unknown } | undefined {
  try {
    run();
  } catch (error) {
    return { name: (error as Error).name, code: (error as { code?: unknown }).code };
  }
  return undefined;
}

describe('installPooledRandomValues', () => {
  beforeAll(() => installPooledRandomValues(webcrypto));

  it('is installed once, however often it is called', () => {
    const installed = getRandomValuesOf(webcrypto);
    expect(installed).not.toBe(nodeGetRandomValues);
    installPooledRandomValues(webcrypto);
    expect(getRandomValuesOf(webcrypto)).toBe(installed);
  });

  it('fills the array it is given and returns it', () => {
    const array = new Uint8Array(16);
    expect(webcrypto.getRandomValues(array)).toBe(array);
    expect(array.some((byte) => byte !== 0)).toBe(true);
    const buffer = Buffer.alloc(32);
    expect(webcrypto.getRandomValues(buffer)).toBe(buffer);
    expect(buffer.some((byte) => byte !== 0)).toBe(true);
  });

  it('hands out every byte once, across many refills of the pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex'));
    expect(seen.size).toBe(20_000);
  });

  it('hands out no wiped bytes, whatever the sizes asked and where they cross a refill', () => {
    // 1..256 bytes at a time, 512 KiB in all: a pool handing out bytes it had already wiped would
    // show far more zeros than the 1 in 256 of uniform bytes.
    const sizes = [1, 7, 16, 33, 100, 255, 256, 3];
    let bytes = 0;
    let zeros = 0;
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; bytes < 512 * 1024; i++) {
      const array = webcrypto.getRandomValues(new Uint8Array(sizes[i % sizes.length]!));
      for (const byte of array) counts[byte]!++;
      bytes += array.length;
      zeros += array.filter((byte) => byte === 0).length;
    }
    const expected = bytes / 256;
    expect(zeros).toBeGreaterThan(expected * 0.8);
    expect(zeros).toBeLessThan(expected * 1.2);
    expect(Math.min(...counts)).toBeGreaterThan(expected * 0.8);
    expect(Math.max(...counts)).toBeLessThan(expected * 1.2);
  });

  it("leaves other typed arrays and large arrays to Node's implementation", () => {
    const words = new Uint32Array(8);
    expect(webcrypto.getRandomValues(words)).toBe(words);
    expect(words.some((word) => word !== 0)).toBe(true);
    const large = new Uint8Array(4096);
    webcrypto.getRandomValues(large);
    expect(large.filter((byte) => byte === 0).length).toBeLessThan(64);
  });

  it("fails exactly as Node's implementation does", () => {
    const cases: Array<[string, (f: GetRandomValues) => unknown]> = [
      ['a float array', (f) => f.call(webcrypto, new Float32Array(4))],
      ['more than 64 KiB', (f) => f.call(webcrypto, new Uint8Array(65_537))],
      ['another receiver', (f) => f.call({}, new Uint8Array(16))],
      ['no array', (f) => f.call(webcrypto, undefined)],
    ];
    for (const [what, run] of cases) {
      const ours = errorOf(() => run(getRandomValuesOf(webcrypto)));
      const node = errorOf(() => run(nodeGetRandomValues));
      expect({ what, error: ours }).toEqual({ what, error: node });
      expect(node).toBeDefined();
    }
  });
});
