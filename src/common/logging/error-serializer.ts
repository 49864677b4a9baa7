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
  return withoutFields(pino.stdSerializers.err(error as Error), VALUE_FIELDS, 0);
}

const BRIEF_LEFT_OUT = new Set([...VALUE_FIELDS, 'stack']);

/**
 * {@link serializeError} without stacks, for failures whose cause is known and whose stack says
 * nothing (an outage answered 503: on-call needs the message and the code, not pg-pool's timer
 * frames, and an outage writes one of these per request).
 */
export function serializeErrorBrief(error: unknown): unknown {
  return withoutFields(pino.stdSerializers.err(error as Error), BRIEF_LEFT_OUT, 0);
}

function withoutFields(value: unknown, leftOut: ReadonlySet<string>, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((item) => withoutFields(item, leftOut, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (!leftOut.has(key)) copy[key] = withoutFields(field, leftOut, depth + 1);
  }
  return copy;
}
