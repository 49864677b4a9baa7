import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { uniqueName } from './support/auth';
import { eventually, request } from './support/http';
import { extractCode, startMailbox, type Mailbox } from './support/mailbox';
import { freePort, spawnEnv, startServer, type ServerProcess } from './support/server-process';
import { signUpForMail } from './support/outbox';
import { createTestApp, type TestApp } from './support/test-app';

jest.setTimeout(90_000);

type OutboxRow = { status: string; attempts: number; due: boolean };

/** SIGTERM while an SMTP server takes its time: the replica exits in time and hands its mail back. */
describe('auth mail: shutdown during a slow SMTP reply', () => {
  const lane = `test-${randomUUID()}`;
  const jwtSecret = `jwt-${randomUUID()}-${randomUUID()}`;
  let mailbox: Mailbox;
  let server: ServerProcess | undefined;
  let takeover: TestApp | undefined;
  const db = new Client({ connectionString: process.env.DATABASE_URL });

  beforeAll(async () => {
    mailbox = await startMailbox();
    await db.connect();
  });
  afterAll(async () => {
    if (server?.child.exitCode === null) server.child.kill('SIGKILL');
    await takeover?.close();
    await mailbox.stop();
    await db.end();
  });

  const outboxRow = async (to: string): Promise<OutboxRow | undefined> =>
    (await db.query<OutboxRow>(`SELECT status, attempts, next_attempt_at <= now() AS due FROM mail_outbox WHERE "to" = $1`, [to])).rows[0];

  const signup = async (url: string): Promise<string> => (await signUpForMail({ url })).email;

  it('exits 0 within the shutdown budget; the unsent mail is due again at once and sent by another replica; the sent one is not resent', async () => {
    const port = await freePort();
    server = startServer(
      {
        ...spawnEnv(),
        TRUST_PROXY: 'true',
        JWT_SECRET: jwtSecret,
        SMTP_URL: mailbox.smtpUrl,
        MAIL_OUTBOX_LANE: lane,
        MAIL_POLL_INTERVAL_MS: '100',
      },
      port,
    );
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);

    const delivered = await signup(url);
    await mailbox.waitForMail(delivered);
    await eventually(async () => (await outboxRow(delivered))?.status === 'sent');

    // The next mail's DATA is accepted, then the reply never ends.
    const username = uniqueName();
    const stuck = `${username}@example.test`;
    mailbox.stall(stuck);
    await signUpForMail({ url }, { username });
    await eventually(() => mailbox.stallsTo(stuck).length === 1, 10_000);

    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    const exitCode = await server.exited;
    const tookMs = Date.now() - signalledAt;
    expect({ exitCode, stderr: server.stderr() }).toEqual({ exitCode: 0, stderr: expect.not.stringContaining('shutdown took longer') });
    expect(tookMs).toBeLessThan(10_000);
    // The mailbox sees the connection close on its own time, perhaps after the process's exit.
    await eventually(() => mailbox.stallsTo(stuck)[0]!.closedAt !== undefined, 2_000);

    // Handed back, due now, the interrupted try not counted.
    expect(await outboxRow(stuck)).toEqual({ status: 'pending', attempts: 0, due: true });

    mailbox.unstall(stuck);
    takeover = await createTestApp({
      SMTP_URL: mailbox.smtpUrl,
      MAIL_OUTBOX_LANE: lane,
      JWT_SECRET: jwtSecret,
      MAIL_POLL_INTERVAL_MS: '100',
    });
    const mail = await mailbox.waitForMail(stuck, undefined, 5000);
    expect(mail.text).toContain(username);
    extractCode(mail.text);
    await eventually(async () => (await outboxRow(stuck))?.status === 'sent');
    expect(mailbox.mailsTo(delivered)).toHaveLength(1);
    expect(await outboxRow(delivered)).toEqual(expect.objectContaining({ status: 'sent', attempts: 1 }));
  });
});
