import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dropDatabase, ensureDatabase } from '../../src/common/database/ensure-database';
import { runMigrationsLocked } from '../../src/common/database/migration-runner';
import { typeOrmOptions } from '../../src/common/database/typeorm-options';
import { PasswordHasher } from '../../src/modules/auth/password-hasher';

/** The bench's own PostgreSQL database and Redis key prefix, made for one run and removed after it. */
export interface BenchStore {
  readonly id: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly redisKeyPrefix: string;
}

export interface SeededUser {
  readonly username: string;
  readonly email: string;
}

export const BENCH_PASSWORD = 'bench-password-0123';

export function newBenchStore(env: Partial<Record<string, string>>): BenchStore {
  const id = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const db = new URL(env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/runtime');
  db.pathname = `/rt_bench_${id}`;
  return { id, databaseUrl: db.toString(), redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379', redisKeyPrefix: `rt:bench:${id}:` };
}

/** Creates the database and applies the migrations the way the app does (same runner, same lock). */
export async function createBenchDatabase(store: BenchStore): Promise<void> {
  await ensureDatabase(store.databaseUrl);
  const dataSource = new DataSource(typeOrmOptions(store.databaseUrl, 2));
  await dataSource.initialize();
  try {
    await runMigrationsLocked(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Confirmed users written straight into the users table (the signup flow needs a mailbox and is
 * rate limited per email, neither of which is what this bench measures). The hash comes from the
 * app's own PasswordHasher, so logins verify with exactly the production argon2id parameters.
 */
export async function seedUsers(store: BenchStore, count: number): Promise<SeededUser[]> {
  const passwordHash = await new PasswordHasher().hash(BENCH_PASSWORD);
  const users = Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(5, '0');
    return { username: `bench_u${n}`, email: `bench-u${n}@example.com` };
  });
  await withClient(store, async (client) => {
    await client.query(
      `INSERT INTO users (username, email, password_hash, role, email_confirmed_at)
       SELECT u, e, $3, 'user', now() FROM unnest($1::text[], $2::text[]) AS t(u, e)`,
      [users.map((u) => u.username), users.map((u) => u.email), passwordHash],
    );
  });
  return users;
}

/**
 * Planner statistics as a production database has them. In production autovacuum re-analyzes a
 * table once about a tenth of it changed (within a minute); the bench seeds in one statement and
 * its scenarios insert thousands of sessions seconds apart, so without this the planner would plan
 * for tables it believes empty. It did: the refresh rotation's lookup of the session by id then
 * scanned every live session through ix_auth_sessions_user (2.5k per refresh after the login
 * scenario), and refresh measured 1.4k instead of 2.5k req/s. pgbench vacuums after seeding too.
 */
export async function analyzeBenchDatabase(store: BenchStore): Promise<void> {
  await withClient(store, (client) => client.query('ANALYZE'));
}

/** Sessions of the given ids that were revoked, and how many sessions exist for them. */
export async function sessionHealth(store: BenchStore, sessionIds: readonly string[]): Promise<{ found: number; revoked: number }> {
  return withClient(store, async (client) => {
    const res = await client.query<{ found: string; revoked: string }>(
      `SELECT count(*) AS found, count(revoked_at) AS revoked FROM auth_sessions WHERE id = ANY($1::uuid[])`,
      [[...sessionIds]],
    );
    return { found: Number(res.rows[0]?.found ?? 0), revoked: Number(res.rows[0]?.revoked ?? 0) };
  });
}

export async function serverVersions(store: BenchStore): Promise<{ postgres: string; redis: string }> {
  const postgres = await withClient(
    store,
    async (client) => (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '?',
  );
  const redis = new Redis(store.redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    const info = await redis.info('server');
    return { postgres, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?' };
  } finally {
    redis.disconnect();
  }
}

/** Drops the database and every Redis key under the run's prefix. Refuses anything not made by the bench. */
export async function dropBenchStore(store: BenchStore): Promise<void> {
  if (new URL(store.databaseUrl).pathname.startsWith('/rt_bench_')) await dropDatabase(store.databaseUrl);
  if (!store.redisKeyPrefix.startsWith('rt:bench:')) return;
  const redis = new Redis(store.redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${store.redisKeyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function withClient<T>(store: BenchStore, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: store.databaseUrl, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
