import { QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';

/**
 * TypeORM releases a transaction's query runner as soon as its pg connection emits `error`
 * (PostgreSQL went away, or terminated the backend). A transaction that was waiting on something
 * else at that moment (signup waits on Redis inside its transaction) then fails its next statement,
 * or its COMMIT, with one of these rather than with the connection error. Our code never uses a
 * manager after its transaction ended, so they mean the connection was lost
 * (test/e2e/database-outage.e2e-spec.ts makes it happen).
 */
export function isReleasedByConnectionLoss(error: unknown): boolean {
  return error instanceof QueryRunnerAlreadyReleasedError || error instanceof QueryRunnerProviderAlreadyReleasedError;
}
