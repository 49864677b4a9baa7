import Redis from 'ioredis';
import { dropDatabase } from '../../src/common/database/ensure-database';

/** Removes this run's database and Redis keys. Refuses to touch anything not made for tests. */
export default async function globalTeardown(): Promise<void> {
  const { DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX } = process.env;
  if (DATABASE_URL && new URL(DATABASE_URL).pathname.startsWith('/rt_test_')) await dropDatabase(DATABASE_URL);
  if (REDIS_URL && REDIS_KEY_PREFIX?.startsWith('rt:test:')) {
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${REDIS_KEY_PREFIX}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}
