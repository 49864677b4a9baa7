import { createHash } from 'node:crypto';

/**
 * A statement that PostgreSQL parses, analyzes and plans once per connection instead of on every
 * run. An unnamed parameterized query (what TypeORM's `query(text, params)` sends) is parsed,
 * analyzed and planned again each time: for the refresh rotation that was about 40 % of the
 * PostgreSQL backend's CPU per request (bench/results.md, "Session 5"). A named one is prepared on
 * a connection the first time it runs there (node-postgres remembers which names each connection
 * has prepared), and after five runs PostgreSQL's plan cache settles on a generic plan when it is
 * no worse than the custom ones.
 *
 * Only for hot statements whose text is a constant: every distinct text stays prepared on every
 * pooled connection for the connection's life. The name is derived from the text, so two
 * statements can never share a name (node-postgres refuses a name reused with another text).
 * Behind PgBouncer in transaction mode, named statements need PgBouncer 1.21 or later
 * (`max_prepared_statements`), see docs/operations.md.
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

export function preparedStatement(text: string): PreparedStatement {
  return Object.freeze({ name: `rt_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`, text });
}

/** TypeORM's `DataSource`, `EntityManager` and `Repository` all have this. */
export interface Queryable {
  query<T = unknown>(query: string, parameters?: unknown[]): Promise<T>;
}

/**
 * Runs `statement` through TypeORM's `query()`, so its transaction handling, error translation
 * (`QueryFailedError`, which `isUniqueViolation` reads) and result shape stay as for any other
 * query. TypeORM hands its first argument to node-postgres's `client.query()` unchanged, and
 * node-postgres takes a query config object (`{name, text}`) there as well as a string; TypeORM's
 * own type only says string, hence the cast. A fresh config per call: node-postgres writes the
 * values into the object it is given. test/e2e/prepared-statements.e2e-spec.ts checks that the
 * statements really are prepared.
 */
export function runPrepared<T>(on: Queryable, statement: PreparedStatement, parameters: unknown[]): Promise<T> {
  const config = { name: statement.name, text: statement.text };
  return on.query<T>(config as unknown as string, parameters);
}
