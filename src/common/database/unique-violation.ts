import { QueryFailedError } from 'typeorm';

/** PostgreSQL's SQLSTATE for unique_violation. */
export const PG_UNIQUE_VIOLATION = '23505';

/**
 * True when `error` is a unique violation of the named constraint or unique index. Conflicts are
 * decided by the database (no read-then-write checks), and the constraint name is how a caller
 * maps a violation to its own 409 code.
 */
export function isUniqueViolation(error: unknown, constraintName: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: unknown; constraint?: unknown } | undefined;
  return driverError?.code === PG_UNIQUE_VIOLATION && driverError.constraint === constraintName;
}
