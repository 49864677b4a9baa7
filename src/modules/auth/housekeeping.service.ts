import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PeriodicTask } from '../../common/scheduling/periodic-task';

/** How often a replica tries a pass; only one replica at a time runs it (an advisory lock). */
const INTERVAL_MS = 10 * 60 * 1000;
/** Longest a pass goes on deleting (a backlog is worked off over several passes beyond that). */
const PASS_BUDGET_MS = 60_000;
/**
 * Rows per statement, each its own short transaction: a batch never holds locks for long nor
 * writes much WAL at once. Sessions go in smaller batches, as each takes its refresh-token rows
 * (one per refresh of its life) with it.
 */
const BATCH = 5000;
const SESSION_BATCH = 500;

/** A rule deleting, batch by batch, the rows of `table` that meet `condition`. */
const deleting = (counts: keyof HousekeepingResult, table: string, condition: string, batch = BATCH): Rule => ({
  counts,
  batch,
  sql: `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${condition} LIMIT ${batch})`,
});

interface Rule {
  readonly counts: keyof HousekeepingResult;
  readonly batch: number;
  readonly sql: string;
}

/**
 * What is deleted, and when: only rows nothing can use any more.
 * - sessions (with their refresh-token rows) a day after they were revoked or after their 90 days
 *   ran out (a session idle for 30 days answers 401 at once, and is revoked when presented; one
 *   never presented again goes when its 90 days run out);
 * - pending signups a day after they were consumed (confirmed, or superseded by a confirmation),
 *   and 30 days after their code expired (until then `resend` can still revive them);
 * - sent mail after 7 days, failed mail after 30 (kept that long for inspection).
 * One more rule changes rows instead of deleting them: settled mail that still holds its content
 * is wiped (MailOutboxRepository wipes what it settles; this covers rows written and sent by the
 * release before sealing, during a rolling release and before it, which keep their code in clear).
 * Each rule is one indexed condition (migration HousekeepingIndexes), so a pass costs what it
 * deletes, not a scan of the table.
 */
const RULES: readonly Rule[] = [
  deleting('sessions', 'auth_sessions', `revoked_at < now() - interval '1 day'`, SESSION_BATCH),
  deleting('sessions', 'auth_sessions', `expires_at < now() - interval '1 day'`, SESSION_BATCH),
  deleting('pendingSignups', 'pending_signups', `consumed_at < now() - interval '1 day'`),
  deleting('pendingSignups', 'pending_signups', `consumed_at IS NULL AND code_expires_at < now() - interval '30 days'`),
  deleting('mail', 'mail_outbox', `status = 'sent' AND created_at < now() - interval '7 days'`),
  deleting('mail', 'mail_outbox', `status = 'failed' AND created_at < now() - interval '30 days'`),
  {
    counts: 'mailContent',
    batch: BATCH,
    sql: `UPDATE mail_outbox SET subject = '', text = '', html = NULL, sealed = NULL WHERE id IN (
      SELECT id FROM mail_outbox
       WHERE status IN ('sent', 'failed') AND (subject <> '' OR text <> '' OR html IS NOT NULL OR sealed IS NOT NULL)
       LIMIT ${BATCH})`,
  },
];

/** Rows deleted (wiped, for `mailContent`) per table in one pass. */
export interface HousekeepingResult {
  sessions: number;
  pendingSignups: number;
  mail: number;
  mailContent: number;
}

const LOCK = `hashtext('runtime-api/auth-housekeeping')`;

/**
 * Keeps the auth module's tables from growing without bound: every refresh adds a token row,
 * every signup a pending row, every mail an outbox row. Runs on every replica's timer; the
 * advisory lock lets one of them do a pass while the others skip it.
 */
@Injectable()
export class AuthHousekeeping implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AuthHousekeeping');
  private task: PeriodicTask | undefined;

  private stopping = false;

  constructor(private readonly dataSource: DataSource) {}

  onApplicationBootstrap(): void {
    this.task = new PeriodicTask(
      () => this.runOnce(),
      INTERVAL_MS,
      (error) => this.logger.error({ err: error, event: 'auth.housekeeping_failed' }, 'housekeeping pass failed'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.task?.stop();
  }

  /**
   * One pass: how many rows went from each table, or `null` when another replica holds the pass.
   * Each rule deletes batch after batch until one comes back short, the pass's time is up, or the
   * process is stopping; the lock (session-level, on a connection of its own) is held throughout.
   */
  async runOnce(): Promise<HousekeepingResult | null> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [lock] = (await runner.query(`SELECT pg_try_advisory_lock(${LOCK}) AS locked`)) as { locked: boolean }[];
      if (!lock?.locked) return null;
      try {
        const result: HousekeepingResult = { sessions: 0, pendingSignups: 0, mail: 0, mailContent: 0 };
        const deadline = Date.now() + PASS_BUDGET_MS;
        for (const rule of RULES) {
          for (;;) {
            const [, affected] = (await runner.query(rule.sql)) as [unknown, number];
            result[rule.counts] += affected;
            if (affected < rule.batch || Date.now() > deadline || this.stopping) break;
          }
        }
        this.report(result);
        return result;
      } finally {
        // Fails only with the connection itself, and its lock ends with it.
        await runner.query(`SELECT pg_advisory_unlock(${LOCK})`).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }

  private report(result: HousekeepingResult): void {
    if (!(result.sessions || result.pendingSignups || result.mail || result.mailContent)) return;
    const { mailContent, ...deleted } = result;
    this.logger.log({ event: 'auth.housekeeping', deleted, wiped: { mail: mailContent } }, 'deleted dead auth rows');
  }
}
