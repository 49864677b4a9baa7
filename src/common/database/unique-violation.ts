import { QueryFailedError } from 'typeorm';

/** PostgreSQL's SQLSTATE for unique_violation. */
export const PG_UNIQUE_VIOLATION = '23505';

/**
 * True when `error` is a unique violation of the named constraint or unique index. Conflicts are
 * decided by the database (no read-then-write checks), and the constraint name is how a caller
 * maps a violation to its own 409 code.
 */
export function isUniqueViolation(error: unknown, constraintName: string): boolean {
  return sqlStateOf(error) === PG_UNIQUE_VIOLATION && driverErrorOf(error)?.constraint === constraintName;
}

/** The SQLSTATE PostgreSQL answered a failed query with (ours too: a function's RAISE … ERRCODE). */
export function sqlStateOf(error: unknown): string | undefined {
  const code = driverErrorOf(error)?.code;
  return typeof code === 'string' ? code : undefined;
}

function driverErrorOf(error: unknown): { code?: unknown; constraint?: unknown } | undefined {
  return error instanceof QueryFailedError ? (error.driverError as { code?: unknown; constraint?: unknown } | undefined) : undefined;
}
