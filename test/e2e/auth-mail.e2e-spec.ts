import { Logger } from '@nestjs/common';
import { createServer, type AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { randomIp, uniqueName } from './support/auth';
import { eventually, request } from './support/http';
import { extractCode, startMailbox, type Mailbox } from './support/mailbox';
import { createTestApp, type TestApp } from './support/test-app';

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
    mailbox = await startMailbox();
    t = await createTestApp({ SMTP_URL: mailbox.smtpUrl, TRUST_PROXY: 'true', MAIL_RETRY_BASE_MS: '50', MAIL_POLL_INTERVAL_MS: '100' });
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t.close();
    await mailbox.stop();
  });

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
