import { batchedLookup } from './batched-lookup';

/** A fetch that records every batch and finds the keys in `rows`. */
function recordingFetch(rows: ReadonlyMap<string, string>) {
  const batches: string[][] = [];
  const fetch = jest.fn((keys: readonly string[]) => {
    batches.push([...keys]);
    return Promise.resolve(new Map([...rows].filter(([key]) => keys.includes(key))));
  });
  return { batches, fetch };
}

describe('batchedLookup', () => {
  const rows = new Map([
    ['a', 'row a'],
    ['b', 'row b'],
    ['c', 'row c'],
  ]);

  it('asks once for the distinct keys of one turn and gives each caller its own row, null when missing', async () => {
    const { batches, fetch } = recordingFetch(rows);
    const lookup = batchedLookup(fetch);
    const answers = await Promise.all(['b', 'a', 'missing', 'b', 'c'].map((key) => lookup(key)));
    expect(answers).toEqual(['row b', 'row a', null, 'row b', 'row c']);
    expect(batches).toEqual([['b', 'a', 'missing', 'c']]);
  });

  it('keys asked in different turns go out in different queries, each after it was asked (nothing cached)', async () => {
    const { batches, fetch } = recordingFetch(rows);
    const lookup = batchedLookup(fetch);
    expect(await lookup('a')).toBe('row a');
    expect(await lookup('a')).toBe('row a');
    expect(await lookup('b')).toBe('row b');
    expect(batches).toEqual([['a'], ['a'], ['b']]);
  });

  it('splits a large turn into batches of at most 100 keys', async () => {
    const many = new Map(Array.from({ length: 250 }, (_, i) => [`k${i}`, `row ${i}`] as const));
    const { batches, fetch } = recordingFetch(many);
    const lookup = batchedLookup(fetch);
    const answers = await Promise.all([...many.keys()].map((key) => lookup(key)));
    expect(answers).toEqual([...many.values()]);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
  });

  it('a failing query fails every caller of its batch with its error, and the next batch is asked afresh', async () => {
    const outage = new Error('connection terminated');
    const fetch = jest.fn<Promise<ReadonlyMap<string, string>>, [readonly string[]]>().mockRejectedValueOnce(outage);
    fetch.mockResolvedValue(rows);
    const lookup = batchedLookup(fetch);
    const settled = await Promise.allSettled([lookup('a'), lookup('b')]);
    expect(settled).toEqual([
      { status: 'rejected', reason: outage },
      { status: 'rejected', reason: outage },
    ]);
    expect(await lookup('a')).toBe('row a');
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});
