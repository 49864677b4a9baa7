import type pino from 'pino';
import type { AppConfig } from '../config';

/**
 * The audit trail (who looked up whom, and such): lines on the root logger's stream, with its
 * redaction, but at a level of their own. `LOG_LEVEL=warn` (or `error`) keeps access lines and
 * routine info out, not the audit trail, which CONTRACT.md says is always written; only `silent`,
 * logging turned off altogether, silences it too. A Nest `Logger` at info level was dropped
 * whenever the root level was stricter.
 */
export class AuditLog {
  private readonly logger: pino.Logger;

  constructor(root: pino.Logger, level: AppConfig['log']['level']) {
    this.logger = root.child({ context: 'Audit' }, { level: level === 'silent' ? 'silent' : 'info' });
  }

  /** One audit line (info level); `event` names what happened, e.g. `audit.user_lookup`. */
  write(fields: { readonly event: string } & Record<string, unknown>, message: string): void {
    this.logger.info(fields, message);
  }
}
