import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { randomIp, uniqueName } from './support/auth';
import { eventually, request } from './support/http';
import { extractCode, type Mailbox } from './support/mailbox';
import { sealedLane } from '../../src/modules/auth/mail/mail-outbox.repository';
import { createTestApp, startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

const SIGNUP = '/api/v1/auth/verifications';

jest.setTimeout(60_000);

type OutboxRow = { status: string; attempts: number; last_error: string | null; request_id: string | null };

async function outboxRows(db: DataSource, to: string): Promise<OutboxRow[]> {
  return await db.query<OutboxRow[]>(
    `SELECT status, attempts, last_error, request_id FROM mail_outbox WHERE "to" = $1 ORDER BY created_at`,
    [to],
  );
}

function signup(t: TestApp, requestId: string, over: { username?: string } = {}) {
  const username = over.username ?? uniqueName();
  const email = `${username}@example.test`;
  return {
    username,
    email,
    res: request(t.url, 'POST', SIGNUP, {
      body: { username, email, password: 'secret-pass' },
      headers: { 'x-forwarded-for': randomIp(), 'x-request-id': requestId },
    }),
  };
}

describe('auth mail: outbox, retries, failures', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true', MAIL_RETRY_BASE_MS: '50', MAIL_POLL_INTERVAL_MS: '100' }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it('retries a transient SMTP failure (451) until the mail is delivered', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const username = uniqueName();
      mailbox.rejectNext(`${username}@example.test`, 451, 2);
      const s = signup(t, 'req-transient-1', { username });
      expect((await s.res).status).toBe(202);
      const mail = await mailbox.waitForMail(s.email);
      extractCode(mail.text);
      await eventually(async () => (await outboxRows(db, s.email))[0]?.status === 'sent');
      expect((await outboxRows(db, s.email))[0]).toEqual(
        expect.objectContaining({ status: 'sent', attempts: 3, request_id: 'req-transient-1' }),
      );
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({ event: 'mail.send_failed', request_id: 'req-transient-1' }),
        expect.any(String),
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('a permanent failure is kept as failed and logged with the request id (never lost silently)', async () => {
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      const username = uniqueName();
      mailbox.rejectNext(`${username}@example.test`, 550, 1);
      const s = signup(t, 'req-permanent-1', { username });
      expect((await s.res).status).toBe(202);
      await eventually(async () => (await outboxRows(db, s.email))[0]?.status === 'failed');
      expect((await outboxRows(db, s.email))[0]).toEqual(
        expect.objectContaining({ attempts: 1, last_error: expect.stringContaining('550') }),
      );
      expect(error).toHaveBeenCalledWith(
        expect.objectContaining({ event: 'mail.send_failed', request_id: 'req-permanent-1', final: true }),
        expect.any(String),
      );
    } finally {
      error.mockRestore();
    }
  });
});

describe('auth mail: no usable code at rest in the outbox', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  beforeAll(async () => {
    // Retries wait a minute, so a refused mail stays queued until the test makes it due.
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true', MAIL_RETRY_BASE_MS: '60000', MAIL_POLL_INTERVAL_MS: '100' }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  /** Every column of the address's outbox rows, as PostgreSQL prints the row. */
  const rowText = async (to: string): Promise<string[]> =>
    (await db.query<{ row: string }[]>(`SELECT m::text AS row FROM mail_outbox m WHERE "to" = $1`, [to])).map((r) => r.row);
  const content = (to: string): Promise<unknown[]> =>
    db.query<unknown[]>(`SELECT subject, text, html, sealed FROM mail_outbox WHERE "to" = $1`, [to]);
  const wiped = [{ subject: '', text: '', html: null, sealed: null }];

  it('a queued code mail holds the code in no column, still arrives with it, and holds nothing once sent', async () => {
    const s = signup(t, 'req-rest-1');
    // The first delivery is refused (451): the mail stays in the outbox as the signup wrote it.
    mailbox.rejectNext(s.email, 451, 1);
    expect((await s.res).status).toBe(202);
    await eventually(async () => ((await outboxRows(db, s.email))[0]?.last_error ?? null) !== null);
    const queued = await rowText(s.email);
    expect((await outboxRows(db, s.email))[0]).toEqual(expect.objectContaining({ status: 'pending', attempts: 1 }));

    await db.query(`UPDATE mail_outbox SET next_attempt_at = now() WHERE "to" = $1`, [s.email]);
    const mail = await mailbox.waitForMail(s.email);
    expect(mail.text).toContain(s.username);
    const code = extractCode(mail.text);
    expect(mail.subject).toContain(code);
    expect(queued).toHaveLength(1);
    expect(queued[0]).not.toContain(code);

    await eventually(async () => (await outboxRows(db, s.email))[0]?.status === 'sent');
    expect((await rowText(s.email))[0]).not.toContain(code);
    expect(await content(s.email)).toEqual(wiped);
  });

  it('a mail queued in plaintext by the previous release is still sent, then wiped', async () => {
    const to = `${uniqueName('legacy')}@example.test`;
    await db.query(
      `INSERT INTO mail_outbox (lane, "to", subject, text, html) VALUES ($1, $2, 'Your verification code: 482913', $3, NULL)`,
      [t.config.mail.outboxLane, to, 'Your verification code:\n\n482913\n'],
    );
    const mail = await mailbox.waitForMail(to);
    expect(extractCode(mail.text)).toBe('482913');
    await eventually(async () => (await outboxRows(db, to))[0]?.status === 'sent');
    expect(await content(to)).toEqual(wiped);
  });

  it('a sealed mail that cannot be opened (JWT_SECRET changed since) fails at once, logged, and is wiped', async () => {
    const to = `${uniqueName('resealed')}@example.test`;
    const error = jest.spyOn(Logger.prototype, 'error');
    try {
      await db.query(
        `INSERT INTO mail_outbox (lane, "to", subject, text, sealed, request_id) VALUES ($1, $2, '', '', $3, 'req-sealed-1')`,
        [sealedLane(t.config.mail.outboxLane), to, randomBytes(64).toString('base64url')],
      );
      await eventually(async () => (await outboxRows(db, to))[0]?.status === 'failed');
      expect((await outboxRows(db, to))[0]).toEqual(
        expect.objectContaining({ attempts: 1, last_error: expect.stringContaining('cannot be opened'), request_id: 'req-sealed-1' }),
      );
      expect(await content(to)).toEqual(wiped);
      expect(error).toHaveBeenCalledWith(
        expect.objectContaining({ event: 'mail.send_failed', request_id: 'req-sealed-1', final: true }),
        expect.any(String),
      );
      expect(mailbox.mailsTo(to)).toEqual([]);
    } finally {
      error.mockRestore();
    }
  });
});

describe('auth mail: SMTP server down', () => {
  let t: TestApp;
  let db: DataSource;
  let deadPort: number;
  beforeAll(async () => {
    // A port that refuses connections: take a free one and close it again.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    deadPort = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    t = await createTestApp({ SMTP_URL: `smtp://127.0.0.1:${deadPort}`, TRUST_PROXY: 'true', MAIL_RETRY_BASE_MS: '60000' });
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t.close();
  });

  it('signup still answers 202 (mail is off the request path) and the mail waits in the outbox for a retry', async () => {
    const s = signup(t, 'req-down-1');
    expect((await s.res).status).toBe(202);
    await eventually(
      async () => (await outboxRows(db, s.email))[0]?.last_error !== null && (await outboxRows(db, s.email))[0]?.last_error !== undefined,
    );
    expect((await outboxRows(db, s.email))[0]).toEqual(
      expect.objectContaining({ status: 'pending', attempts: 1, request_id: 'req-down-1' }),
    );
  });
});

describe('auth mail: no SMTP_URL outside production', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ SMTP_URL: '', TRUST_PROXY: 'true' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('writes the mail, code included, to the log', async () => {
    expect(t.config.mail.smtpUrl).toBeUndefined();
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const s = signup(t, 'req-log-1');
      expect((await s.res).status).toBe(202);
      let logged: { text: string; request_id: string } | undefined;
      await eventually(() => {
        const call = warn.mock.calls.find(
          ([arg]) => (arg as { event?: string; to?: string }).event === 'mail.logged' && (arg as { to?: string }).to === s.email,
        );
        logged = call?.[0] as typeof logged;
        return logged !== undefined;
      });
      expect(logged!.request_id).toBe('req-log-1');
      expect(logged!.text).toContain(s.username);
      expect(extractCode(logged!.text)).toMatch(/^[0-9]{6}$/);
    } finally {
      warn.mockRestore();
    }
  });
});
