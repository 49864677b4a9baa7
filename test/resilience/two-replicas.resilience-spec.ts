import { randomIp, uniqueName } from '../e2e/support/auth';
import { expectProblem, request } from '../e2e/support/http';
import { extractCode, startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { dropFileDatabase, query, useFileDatabase } from './support/db';
import { ip, logout, me, refresh, signUp } from './support/flows';
import { launchServer, unexpectedErrors, type Server } from './support/server';

/** Two server processes on one PostgreSQL and one Redis, as two pods behind a load balancer. */
describe('two replicas', () => {
  useFileDatabase('replicas');
  const LIMIT = 10;
  let mailbox: Mailbox;
  let a: Server;
  let b: Server;

  beforeAll(async () => {
    mailbox = await startMailbox();
    const env = {
      SMTP_URL: mailbox.smtpUrl,
      MAIL_POLL_INTERVAL_MS: '200',
      RATE_LIMIT_DEFAULT_PER_MINUTE: String(LIMIT),
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX}replicas:`,
    };
    // Both start together, as pods do; one that fails to start must not leave the other running.
    const launched = await Promise.allSettled([launchServer(env), launchServer(env)]);
    const failed = launched.find((r) => r.status === 'rejected');
    if (failed) {
      for (const r of launched) if (r.status === 'fulfilled') await r.value.stop();
      throw failed.reason;
    }
    [a, b] = launched.map((r) => (r as PromiseFulfilledResult<Server>).value) as [Server, Server];
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await mailbox?.stop();
    await dropFileDatabase(); // after the servers: dropping it ends every connection to it
  });

  afterEach(() => {
    if (a && b) expect([...unexpectedErrors(a), ...unexpectedErrors(b)]).toEqual([]); // else beforeAll failed, and says why
  });

  it('share rate limits: one client spread over both gets the limit once, not twice', async () => {
    const account = await signUp(a.url, mailbox);
    const client = randomIp();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 4; i++) statuses.push((await me(i % 2 === 0 ? a.url : b.url, account.access_token, client)).status);
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(200));
    expect(statuses.slice(LIMIT)).toEqual(Array(4).fill(429));
    expectProblem(await me(b.url, account.access_token, client), 429, 'rate_limited');
  });

  it('a logout on one refuses the access token on the other at once', async () => {
    const account = await signUp(a.url, mailbox);
    expect((await me(b.url, account.access_token)).status).toBe(200);
    expect((await logout(a.url, account.refresh_token)).status).toBe(204);
    expectProblem(await me(b.url, account.access_token), 401, 'invalid_token');
    expectProblem(await refresh(b.url, account.refresh_token), 401, 'invalid_refresh_token');
  });

  it('concurrent refreshes of one token spread over both never fork the session', async () => {
    const account = await signUp(a.url, mailbox);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(i % 2 === 0 ? a.url : b.url, account.refresh_token)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(results.map((r) => r.body.refresh_token)).size).toBe(1);
    const sessions = await query<{ revoked_at: Date | null }>(`SELECT revoked_at FROM auth_sessions WHERE user_id = $1`, [account.user.id]);
    expect(sessions).toEqual([{ revoked_at: null }]);
    const next = await refresh(b.url, results[0]!.body.refresh_token);
    expect(next.status).toBe(200);
    expect((await me(a.url, next.body.access_token)).status).toBe(200);
  });

  it('a code verified on one cannot be reused on the other', async () => {
    const username = uniqueName('replica');
    const email = `${username}@example.test`;
    expect(
      (await request(a.url, 'POST', '/api/v1/auth/verifications', { body: { username, email, password: 'secret-123' }, headers: ip() }))
        .status,
    ).toBe(202);
    const code = extractCode((await mailbox.waitForNth(email, 1)).text);
    expect(
      (await request(a.url, 'POST', '/api/v1/auth/verifications/verify', { body: { email, token: code }, headers: ip() })).status,
    ).toBe(200);
    expectProblem(
      await request(b.url, 'POST', '/api/v1/auth/verifications/verify', { body: { email, token: code }, headers: ip() }),
      401,
      'invalid_otp',
    );
    expect(await query(`SELECT s.id FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1`, [email])).toHaveLength(1);
  });
});
