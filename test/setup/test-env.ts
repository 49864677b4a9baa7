import { randomBytes } from 'node:crypto';

/** Where this run's isolated resources live; written by global-setup, read by the tests. */
export interface TestEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  REDIS_KEY_PREFIX: string;
}

export function newTestEnv(base: Partial<Record<string, string>>): TestEnv {
  const id = `${Date.now().toString(36)}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const db = new URL(base.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/runtime');
  db.pathname = `/rt_test_${id}`;
  return {
    DATABASE_URL: db.toString(),
    REDIS_URL: base.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `rt:test:${id}:`,
  };
}
