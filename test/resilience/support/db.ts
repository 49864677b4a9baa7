import { Client } from 'pg';
import { dropDatabase } from '../../../src/common/database/ensure-database';

let current: string | undefined;

/**
 * Gives this test file a database of its own (this run's name plus `tag`), created and migrated by
 * the first server that starts on it. Needed because servers of different files would otherwise
 * share the mail outbox: a replica drains every queued mail, so another file's server would deliver
 * this file's codes to that file's mailbox.
 */
export function useFileDatabase(tag: string): string {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `${url.pathname}_${tag}`;
  current = url.toString();
  return current;
}

/** The database spawned servers and {@link query} use: this file's own, or this run's. */
export function currentDatabase(): string {
  return current ?? process.env.DATABASE_URL!;
}

export async function dropFileDatabase(): Promise<void> {
  if (current) await dropDatabase(current).catch(() => undefined);
}

/** One-off query against a database (this file's by default). */
export async function query<T extends Record<string, unknown>>(sql: string, params: unknown[] = [], url = currentDatabase()): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  // A connection the server ends (the file's database dropped at teardown, a cluster stopped) also
  // emits 'error'; unheard, it would fail whichever test is running. The query still rejects.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
