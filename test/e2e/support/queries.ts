import type { DataSource } from 'typeorm';

export interface CapturedQuery {
  readonly sql: string;
  readonly parameters: unknown[];
}

/**
 * Runs `action` and returns the SQL statements (with parameters) the app sent meanwhile, on any
 * connection: every statement goes through TypeORM's PostgresQueryRunner.query. A prepared
 * statement arrives there as node-postgres's query config (common/database/prepared-statement.ts).
 */
export async function captureQueries(db: DataSource, action: () => Promise<unknown>): Promise<CapturedQuery[]> {
  const runner = db.createQueryRunner();
  const proto = Object.getPrototypeOf(runner) as { query: (sql: string | { text: string }, parameters?: unknown[]) => Promise<unknown> };
  await runner.release();
  const spy = jest.spyOn(proto, 'query');
  try {
    await action();
    return spy.mock.calls.map(([sql, parameters]) => ({ sql: typeof sql === 'string' ? sql : sql.text, parameters: parameters ?? [] }));
  } finally {
    spy.mockRestore();
  }
}

/** The plan PostgreSQL would use for `query` if the tables were big (sequential scans priced out). */
export async function planOf(db: DataSource, query: CapturedQuery): Promise<string> {
  return db.transaction(async (manager) => {
    await manager.query('SET LOCAL enable_seqscan = off');
    const rows = await manager.query<{ 'QUERY PLAN': string }[]>(`EXPLAIN ${query.sql}`, query.parameters);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}
