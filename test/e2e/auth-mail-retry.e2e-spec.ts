import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { uniqueName } from './support/auth';
import { eventually } from './support/http';
import { extractCode, startMailbox, type Mailbox } from './support/mailbox';
import { outboxRow, signUpForMail } from './support/outbox';
import { createTestApp, startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

jest.setTimeout(60_000);

/** The address of a fresh signup's code mail, queued under `requestId`. */
const signup = async (t: TestApp, requestId: string, username?: string): Promise<string> =>
  (await signUpForMail(t, { requestId, username })).email;

const authFailureLogged = (spy: jest.SpyInstance, requestId: string, code: number): void =>
  expect(spy).toHaveBeenCalledWith(
    expect.objectContaining({ event: 'mail.smtp_auth_failed', request_id: requestId, error: expect.stringContaining(String(code)) }),
    expect.any(String),
  );

describe('auth mail: SMTP authentication failures are retried, not final', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    mailbox = await startMailbox({ auth: { user: 'mailer', pass: 'right-pass' } });
    // The operator's mistake: a wrong password in SMTP_URL.
    const url = new URL(mailbox.smtpUrl);
    url.username = 'mailer';
    url.password = 'wrong-pass';
    t = await createTestApp({ SMTP_URL: url.toString(), TRUST_PROXY: 'true', MAIL_RETRY_BASE_MS: '50', MAIL_POLL_INTERVAL_MS: '100' });
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t.close();
    await mailbox.stop();
  });

  it('535: the mail stays queued, logged at error level, and is delivered once the credentials work', async () => {
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      const email = await signup(t, 'req-auth-535');
      await eventually(async () => ((await outboxRow(db, email))?.attempts ?? 0) >= 2, 10_000);
      expect(await outboxRow(db, email)).toEqual(expect.objectContaining({ last_error: expect.stringContaining('535') }));
      expect((await outboxRow(db, email))?.status).not.toBe('failed');
      authFailureLogged(error, 'req-auth-535', 535);

      mailbox.acceptPassword('wrong-pass');
      const mail = await mailbox.waitForMail(email, undefined, 15_000);
      extractCode(mail.text);
      await eventually(async () => (await outboxRow(db, email))?.status === 'sent');
    } finally {
      error.mockRestore();
    }
  });
});

describe('auth mail: 530 and 454 are retried', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true', MAIL_RETRY_BASE_MS: '50', MAIL_POLL_INTERVAL_MS: '100' }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it.each([530, 454])('%i: logged at error level, retried, then delivered', async (code) => {
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      const username = uniqueName();
      mailbox.rejectNext(`${username}@example.test`, code, 2);
      const email = await signup(t, `req-auth-${code}`, username);
      await mailbox.waitForMail(email);
      await eventually(async () => (await outboxRow(db, email))?.status === 'sent');
      expect((await outboxRow(db, email))?.attempts).toBe(3);
      authFailureLogged(error, `req-auth-${code}`, code);
    } finally {
      error.mockRestore();
    }
  });
});

describe('auth mail: the retry schedule covers a code’s validity', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    // The production retry base (MAIL_RETRY_BASE_MS unset); rows are aged in the database instead of waiting.
    ({ mailbox, t } = await startMailedApp({ MAIL_POLL_INTERVAL_MS: '100' }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  /** A due plaintext row (as the previous release queued it) with a past already behind it. */
  const queued = async (age: string, attempts: number): Promise<string> => {
    const to = `${uniqueName('retry')}@example.test`;
    mailbox.rejectNext(to, 451, 1);
    await db.query(
      `INSERT INTO mail_outbox (lane, "to", subject, text, html, attempts, created_at, last_error)
       VALUES ($1, $2, 'Your verification code: 482913', $3, NULL, $4, now() - $5::interval, '451 Try again later')`,
      [t.config.mail.outboxLane, to, 'Your verification code:\n\n482913\n', attempts, age],
    );
    return to;
  };

  it('keeps retrying a mail whose code is still valid, past the 5th attempt', async () => {
    const to = await queued('5 minutes', 5);
    await eventually(async () => (await outboxRow(db, to))?.attempts === 6);
    await eventually(async () => (await outboxRow(db, to))?.status !== 'sending');
    const row = (await outboxRow(db, to))!;
    expect(row.status).toBe('pending');
    // Backoff, capped so that several tries still fall within the code's 10 minutes.
    expect(row.retry_in_s).toBeGreaterThan(30);
    expect(row.retry_in_s).toBeLessThanOrEqual(t.config.auth.codeTtlSeconds - 5 * 60);
  });

  it('gives up on a mail whose code has expired by the time of the next try', async () => {
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      const to = await queued('11 minutes', 2);
      await eventually(async () => (await outboxRow(db, to))?.status === 'failed');
      expect((await outboxRow(db, to))?.attempts).toBe(3);
      expect(error).toHaveBeenCalledWith(expect.objectContaining({ event: 'mail.send_failed', final: true }), expect.any(String));
    } finally {
      error.mockRestore();
    }
  });
});
