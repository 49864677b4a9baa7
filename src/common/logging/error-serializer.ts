import pino from 'pino';

/**
 * Fields that hold the values a failed statement carried rather than what went wrong: TypeORM's
 * QueryFailedError `parameters` (emails, password hashes, the text of a code mail), and
 * PostgreSQL's `detail` ("Key (email)=(alice@example.com) already exists.") and `where` (its
 * context, which can quote values), both of which TypeORM also copies onto its own error. What
 * says what failed stays: the statement text (`query`, values as $n placeholders), the SQLSTATE
 * (`code`), `constraint`, `table`, `column`, and the message.
 */
const VALUE_FIELDS = new Set(['parameters', 'detail', 'where']);
/** Errors nest (QueryFailedError → driverError, AggregateError); objects deeper than this are left out. */
const MAX_DEPTH = 6;

/**
 * The root logger's `err` serializer: pino's own, then without {@link VALUE_FIELDS} at any depth.
 * pino's copies nested plain values by reference, so this builds new objects rather than deleting
 * from them: the logged error itself is left as it was.
 */
export function serializeError(error: unknown): unknown {
  return withoutValues(pino.stdSerializers.err(error as Error), 0);
}

function withoutValues(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((item) => withoutValues(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (!VALUE_FIELDS.has(key)) copy[key] = withoutValues(field, depth + 1);
  }
  return copy;
}
