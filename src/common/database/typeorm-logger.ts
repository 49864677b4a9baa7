import { Logger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

/**
 * TypeORM's own messages as JSON lines through the app's logger, not its console logger's plain
 * text on stderr: a pool connection that dies under an outage ("Postgres pool raised an error")
 * is a warning with an event name like every other. Queries and their errors are not logged here:
 * failed queries surface as errors to their callers (the problem filter logs the unexpected ones),
 * and expected ones such as unique violations mapped to 409 must not flood the log.
 */
export class TypeOrmNestLogger implements TypeOrmLogger {
  private readonly logger = new Logger('TypeORM');

  logQuery(): void {}
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}

  logMigration(message: string): void {
    this.logger.log({ event: 'db.migration' }, message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn({ event: 'db.warning' }, String(message));
  }
}
