import { Client } from 'pg';
import { dropDatabase, ensureDatabase } from '../../src/common/database/ensure-database';

/**
 * Replicas started together (a fresh deployment, the two-replica resilience test) all create the
 * database they are pointed at outside production. Only one may create it; none may fail.
 */
describe('ensureDatabase', () => {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `${url.pathname}_ensure`;
  const target = url.toString();

  afterAll(() => dropDatabase(target));

  it('creates a missing database exactly once when many processes race for it', async () => {
    await dropDatabase(target);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => ensureDatabase(target)));

    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const created = results.map((r) => (r as PromiseFulfilledResult<boolean>).value);
    expect(created.filter(Boolean)).toHaveLength(1);

    const client = new Client({ connectionString: target });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      expect(rows[0]?.db).toBe(url.pathname.slice(1));
    } finally {
      await client.end();
    }
  });

  it('leaves an existing database alone', async () => {
    await ensureDatabase(target);
    expect(await ensureDatabase(target)).toBe(false);
  });
});
