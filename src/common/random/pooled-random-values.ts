import type { webcrypto } from 'node:crypto';
import { isUint8Array } from 'node:util/types';
import { RandomPool } from './random-pool';

type Crypto = webcrypto.Crypto;
type IntegerTypedArray = Parameters<Crypto['getRandomValues']>[0];
type GetRandomValues = (this: unknown, array: IntegerTypedArray) => IntegerTypedArray;

/** Larger requests go straight to the CSPRNG: the pool is for the many small ones. */
const MAX_POOLED_BYTES = 256;

/** Marks the installed function, so a second install (another app in the same process) is a no-op. */
const POOLED = Symbol.for('runtime-api.pooled-random-values');

/**
 * Serves small `crypto.getRandomValues(Uint8Array)` calls from a {@link RandomPool} of its own (4 KiB
 * that one `randomFillSync` refills), as Node's own `crypto.randomUUID()` keeps 128 UUIDs' worth.
 *
 * Why: LangChain makes a UUID for every step of an agent run (langsmith's UUIDv7 for a run tree
 * it builds even with tracing off, LangGraph's UUIDv6 for checkpoints it makes without a
 * checkpointer): 17 calls a run with one model call and 34 with a tool call, each through
 * `crypto.getRandomValues` on 16 bytes. On Node 20 every such call is a synchronous crypto job of
 * its own plus OpenSSL's fork check (a `getpid` system call): 4–7 µs here against 0.2 µs for a
 * pooled `randomUUID`. Pooled, LangChain's part of an agent run took 0.3–0.8 ms less CPU here
 * (bench/results.md, "Session 17"). No LangChain option turns those UUIDs off, and no
 * library pools them, hence this function.
 *
 * What stays the same: every byte still comes from the same CSPRNG, is handed out once, and is
 * wiped from the pool as it is handed out; anything but a small Uint8Array (other typed arrays, a
 * call on another receiver, more than 256 bytes) goes to Node's own implementation, with its
 * checks and errors. What changes: up to 4 KiB of not-yet-used random bytes sit in this process's
 * memory, as they do in Node's UUID cache and in the pool our tokens are drawn from
 * (`secureRandomBytes`). node-postgres draws its SCRAM nonce through this function; it is as
 * unpredictable as before.
 */
export function installPooledRandomValues(target: Crypto = globalThis.crypto): void {
  if (pooledRandomValuesInstalled(target)) return;
  // Read as a value, not called here: it is called below with the receiver it was called on.
  const original = Reflect.get(target, 'getRandomValues') as GetRandomValues;
  const pool = new RandomPool();

  function getRandomValues(this: unknown, array: IntegerTypedArray): IntegerTypedArray {
    if (this !== target || !isUint8Array(array) || array.byteLength > MAX_POOLED_BYTES) {
      return original.call(this, array);
    }
    pool.fillArray(array);
    return array;
  }

  Object.defineProperty(getRandomValues, POOLED, { value: true });
  Object.defineProperty(target, 'getRandomValues', { value: getRandomValues, writable: true, configurable: true, enumerable: false });
}

export function pooledRandomValuesInstalled(target: Crypto = globalThis.crypto): boolean {
  return POOLED in (Reflect.get(target, 'getRandomValues') as GetRandomValues);
}
