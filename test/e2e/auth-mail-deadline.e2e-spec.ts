import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { uniqueName } from './support/auth';
import { eventually } from './support/http';
import { extractCode, type Mailbox } from './support/mailbox';
import { outboxRow, signUpForMail } from './support/outbox';
import { startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

jest.setTimeout(60_000);

const signup = (t: TestApp) => signUpForMail(t);

/** A plaintext row as the previous release queued it, in the state a replica that died left it. */
async function queueLegacy(db: DataSource, t: TestApp, state: { status: string; attempts: number }): Promise<string> {
  const to = `${uniqueName('lease')}@example.test`;
  await db.query(
    `INSERT INTO mail_outbox (lane, "to", subject, text, html, status, attempts, next_attempt_at)
     VALUES ($1, $2, 'Your verification code: 482913', $3, NULL, $4, $5, now() - interval '1 second')`,
    [t.config.mail.outboxLane, to, 'Your verification code:\n\n482913\n', state.status, state.attempts],
  );
  return to;
}

describe('auth mail: a stuck SMTP conversation', () => {
  const SEND_TIMEOUT_MS = 6000;
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({
      TRUST_PROXY: 'true',
      MAIL_SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS),
      // The retry of the cut conversation is not due during the test.
      MAIL_RETRY_BASE_MS: '60000',
      MAIL_POLL_INTERVAL_MS: '100',
    }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it('does not hold back other mail, and is cut at the send deadline as a transient failure (retried later)', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const stuckName = uniqueName();
      const stuck = `${stuckName}@example.test`;
      mailbox.stall(stuck);
      await signUpForMail(t, { username: stuckName });
      await eventually(() => mailbox.stallsTo(stuck).length === 1, 10_000);
      const stall = mailbox.stallsTo(stuck)[0]!;

      // Signed up while the first mail hangs: delivered while it still hangs.
      const other = await signup(t);
      const mail = await mailbox.waitForMail(other.email, undefined, 20_000);
      expect(extractCode(mail.text)).toMatch(/^[0-9]{6}$/);
      expect(mail.receivedAt).toBeLessThan(stall.closedAt ?? Infinity);

      // The hung conversation ends at the deadline: connection closed, attempt counted, retried with backoff.
      await eventually(async () => (await outboxRow(db, stuck))?.status === 'pending', SEND_TIMEOUT_MS + 10_000, 50);
      const row = (await outboxRow(db, stuck))!;
      expect(row).toEqual(expect.objectContaining({ attempts: 1, last_error: expect.stringContaining(`${SEND_TIMEOUT_MS} ms`) }));
      expect(row.retry_in_s).toBeGreaterThan(30);
      await eventually(() => stall.closedAt !== undefined, 2000);
      expect(stall.closedAt! - stall.startedAt).toBeLessThan(SEND_TIMEOUT_MS + 2000);
      expect(mailbox.stallsTo(stuck)).toHaveLength(1);
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ event: 'mail.send_failed', attempt: 1 }), expect.any(String));
    } finally {
      warn.mockRestore();
    }
  });
});

describe('auth mail: expired leases', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ MAIL_POLL_INTERVAL_MS: '100' }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it('a mail whose lease expired with its attempts used up fails instead of being sent again', async () => {
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      const exhausted = await queueLegacy(db, t, { status: 'sending', attempts: t.config.mail.maxAttempts });
      // Below the limit, an expired lease is claimed again (its replica died mid-send): sent once more.
      const orphaned = await queueLegacy(db, t, { status: 'sending', attempts: 1 });

      await mailbox.waitForMail(orphaned);
      await eventually(async () => (await outboxRow(db, orphaned))?.status === 'sent');
      expect((await outboxRow(db, orphaned))?.attempts).toBe(2);

      await eventually(async () => (await outboxRow(db, exhausted))?.status === 'failed');
      expect((await outboxRow(db, exhausted))?.attempts).toBe(t.config.mail.maxAttempts);
      expect(mailbox.mailsTo(exhausted)).toEqual([]);
      expect(error).toHaveBeenCalledWith(
        expect.objectContaining({ event: 'mail.send_failed', final: true, attempt: t.config.mail.maxAttempts }),
        expect.any(String),
      );
    } finally {
      error.mockRestore();
    }
  });
});
