import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectConfig, type AppConfig } from '../../common/config';
import { PeriodicTask } from '../../common/scheduling/periodic-task';

/** How often a replica tries a pass; only one replica at a time runs it (an advisory lock). */
const INTERVAL_MS = 10 * 60 * 1000;
/** Rows deleted (or wiped) per rule and pass, so a pass never holds locks for long. */
const BATCH = 5000;

/**
 * What is deleted, and when: only rows nothing can use any more.
 * - sessions (with their refresh-token rows) a day after they were revoked or ran out (90 days in
 *   all, 30 days idle): their tokens answer 401 either way;
 * - pending signups a day after they were consumed (confirmed, or superseded by a confirmation),
 *   and 30 days after their code expired (until then `resend` can still revive them);
 * - sent mail after 7 days, failed mail after 30 (kept that long for inspection).
 * One more rule changes rows instead of deleting them: settled mail that still holds its content
 * is wiped (MailOutboxRepository wipes what it settles; this covers rows written and sent by the
 * release before sealing, during a rolling release and before it, which keep their code in clear).
 */
const RULES = {
  sessions: `DELETE FROM auth_sessions WHERE id IN (
      SELECT id FROM auth_sessions
       WHERE revoked_at < now() - interval '1 day'
          OR expires_at < now() - interval '1 day'
          OR last_used_at < now() - make_interval(secs => $1) - interval '1 day'
       LIMIT ${BATCH})`,
  pendingSignups: `DELETE FROM pending_signups WHERE id IN (
      SELECT id FROM pending_signups
       WHERE consumed_at < now() - interval '1 day'
          OR (consumed_at IS NULL AND code_expires_at < now() - interval '30 days')
       LIMIT ${BATCH})`,
  mail: `DELETE FROM mail_outbox WHERE id IN (
      SELECT id FROM mail_outbox
       WHERE (status = 'sent' AND created_at < now() - interval '7 days')
          OR (status = 'failed' AND created_at < now() - interval '30 days')
       LIMIT ${BATCH})`,
  mailContent: `UPDATE mail_outbox SET subject = '', text = '', html = NULL, sealed = NULL WHERE id IN (
      SELECT id FROM mail_outbox
       WHERE status IN ('sent', 'failed') AND (subject <> '' OR text <> '' OR html IS NOT NULL OR sealed IS NOT NULL)
       LIMIT ${BATCH})`,
} as const;

export type HousekeepingResult = Record<keyof typeof RULES, number>;

/**
 * Keeps the auth module's tables from growing without bound: every refresh adds a token row,
 * every signup a pending row, every mail an outbox row. Runs on every replica's timer; the
 * transaction-scoped advisory lock lets one of them do a pass while the others skip it.
 */
@Injectable()
export class AuthHousekeeping implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AuthHousekeeping');
  private task: PeriodicTask | undefined;

  private readonly sessionIdleSeconds: number;

  constructor(
    private readonly dataSource: DataSource,
    @InjectConfig() config: AppConfig,
  ) {
    this.sessionIdleSeconds = config.auth.sessionIdleSeconds;
  }

  onApplicationBootstrap(): void {
    this.task = new PeriodicTask(
      () => this.runOnce(),
      INTERVAL_MS,
      (error) => this.logger.error({ err: error, event: 'auth.housekeeping_failed' }, 'housekeeping pass failed'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task?.stop();
  }

  /** One pass: how many rows went from each table, or `null` when another replica holds the pass. */
  async runOnce(): Promise<HousekeepingResult | null> {
    const result = await this.dataSource.transaction(async (m) => {
      const [lock] = await m.query<{ locked: boolean }[]>(
        `SELECT pg_try_advisory_xact_lock(hashtext('runtime-api/auth-housekeeping')) AS locked`,
      );
      if (!lock?.locked) return null;
      const count = async (sql: string, params: unknown[] = []): Promise<number> => {
        const [, affected] = await m.query<[unknown, number]>(sql, params);
        return affected;
      };
      return {
        sessions: await count(RULES.sessions, [this.sessionIdleSeconds]),
        pendingSignups: await count(RULES.pendingSignups),
        mail: await count(RULES.mail),
        mailContent: await count(RULES.mailContent),
      };
    });
    if (result && (result.sessions || result.pendingSignups || result.mail || result.mailContent)) {
      const { mailContent, ...deleted } = result;
      this.logger.log({ event: 'auth.housekeeping', deleted, wiped: { mail: mailContent } }, 'deleted dead auth rows');
    }
    return result;
  }
}
