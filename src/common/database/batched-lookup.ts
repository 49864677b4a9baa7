import DataLoader from 'dataloader';

/** Most keys in one query: bounds the statement's size and the work one batch holds up. */
const MAX_BATCH = 100;

/**
 * Point reads that every request makes (a profile by id, by username) coalesced across concurrent
 * requests: the keys asked for in one event-loop turn go to PostgreSQL as one `= ANY($1)` query,
 * and each caller gets its own row back. Under load the requests that resume from one Redis reply
 * ask together, so one round trip serves many of them; a lone request still makes exactly one
 * query, after the current turn. Nothing is cached: every answer comes from a query that started
 * after it was asked for, so a read never sees data older than an unbatched read would.
 * (DataLoader does the batching; its per-key cache is off because this loader is shared by every
 * request of the process.)
 *
 * `fetch` gets distinct keys and returns the rows it found by key; a key it leaves out is `null`.
 * A failing query fails every caller of that batch with its error.
 */
export function batchedLookup<K, V>(fetch: (keys: readonly K[]) => Promise<ReadonlyMap<K, V>>): (key: K) => Promise<V | null> {
  const loader = new DataLoader<K, V | null>(
    async (keys) => {
      const found = await fetch([...new Set(keys)]);
      return keys.map((key) => found.get(key) ?? null);
    },
    { cache: false, maxBatchSize: MAX_BATCH },
  );
  return (key) => loader.load(key);
}
