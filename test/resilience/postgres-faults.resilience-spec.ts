import { randomBytes } from 'node:crypto';
import { randomIp, uniqueName } from '../e2e/support/auth';
import { eventually, expectProblem, request } from '../e2e/support/http';
import { startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { ip, me, signUp, type Account } from './support/flows';
import { startLoad, summarize, type Sample } from './support/load';
import { ThrowawayPostgres } from './support/pg-cluster';
import { launchServer, unexpectedErrors, type Server } from './support/server';

/**
 * PostgreSQL (a throwaway cluster of this test's own) goes away under a mixed read/write load and
 * comes back. The server answers 503 problem+json meanwhile, recovers by itself, and the database
 * holds no half-written change: every multi-row write is one transaction.
 */
describe('PostgreSQL outage', () => {
  let pg: ThrowawayPostgres;
  let mailbox: Mailbox;
  let server: Server;
  let account: Account;
  const db = 'runtime';

  beforeAll(async () => {
    pg = await ThrowawayPostgres.create();
    mailbox = await startMailbox();
    server = await launchServer({
      DATABASE_URL: pg.url(db),
      DB_MIGRATIONS_RUN: 'true',
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX}pgfault:`,
      SMTP_URL: mailbox.smtpUrl,
      MAIL_POLL_INTERVAL_MS: '200',
      MAIL_RETRY_BASE_MS: '100',
    });
    account = await signUp(server.url, mailbox);
  });

  afterAll(async () => {
    await server?.stop();
    await mailbox?.stop();
    await pg?.destroy();
  });

  const count = async (sql: string): Promise<number> => Number((await pg.query<{ n: string }>(db, sql))[0]!.n);

  it('under load: 503 problem+json while down, readiness 503 within 2 s, recovery by itself, no half-written rows', async () => {
    const signups: { email: string; sample: () => Sample | undefined }[] = [];
    let bio = 0;
    const load = startLoad(
      {
        me: (signal) =>
          fetch(`${server.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${account.access_token}`, ...ip() }, signal }),
        patch: (signal) =>
          fetch(`${server.url}/api/v1/users/me`, {
            method: 'PATCH',
            headers: { authorization: `Bearer ${account.access_token}`, 'content-type': 'application/json', ...ip() },
            body: JSON.stringify({ bio: `bio ${++bio}` }),
            signal,
          }),
        signup: (signal) => {
          const username = uniqueName('pg');
          const email = `${username}@example.test`;
          signups.push({ email, sample: () => undefined });
          return fetch(`${server.url}/api/v1/auth/verifications`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-request-id': `signup-${email}`, ...ip() },
            body: JSON.stringify({ username, email, password: `pw-${randomBytes(6).toString('hex')}` }),
            signal,
          });
        },
        readiness: (signal) => fetch(`${server.url}/api/v1/infra/health`, { signal }),
        liveness: (signal) => fetch(`${server.url}/api/v1/health`, { signal }),
      },
      8,
    );
    await eventually(() => load.samples.length > 40, 15_000);

    await pg.stop('immediate');
    const downAt = Date.now();
    await eventually(async () => (await request(server.url, 'GET', '/api/v1/infra/health')).status === 503, 2000, 20);
    const noticedMs = Date.now() - downAt;
    expectProblem(await me(server.url, account.access_token), 503, 'dependency_unavailable', '/api/v1/users/me');
    const signupWhileDown = await request(server.url, 'POST', '/api/v1/auth/verifications', {
      body: { username: uniqueName('pg'), email: `${uniqueName('pgd')}@example.test`, password: 'secret-123' },
      headers: ip(randomIp()),
    });
    expectProblem(signupWhileDown, 503, 'dependency_unavailable', '/api/v1/auth/verifications');
    expect((await request(server.url, 'GET', '/api/v1/health')).status).toBe(200);

    await eventually(
      () =>
        ['me', 'patch', 'signup'].every((name) => load.samples.filter((s) => s.name === name && s.startedAt > downAt + 500).length >= 10),
      20_000,
    );
    const downUntil = Date.now();
    await pg.start();
    const upAt = Date.now();
    await eventually(
      async () =>
        (await request(server.url, 'GET', '/api/v1/infra/health')).status === 200 &&
        (await me(server.url, account.access_token)).status === 200,
      10_000,
      50,
    );
    const recoveredMs = Date.now() - upAt;
    // Some writes after recovery, through the same pool.
    await eventually(
      () => load.samples.filter((s) => s.startedAt > Date.now() - 1000 && s.name === 'signup' && s.outcome === 202).length > 3,
      10_000,
    );
    const samples = await load.stop();
    // First, so that a 500 below comes with the server's own account of it.
    expect(unexpectedErrors(server)).toEqual([]);
    // One outage, one error line from the mail worker (not one per poll), and the 503s logged
    // with their cause but without stacks.
    const logged = server.output().split('\n');
    expect(logged.filter((l) => l.includes('"event":"mail.worker_failed"'))).toHaveLength(1);
    const dependencyLines = logged.filter((l) => l.includes('"msg":"dependency failure"'));
    expect(dependencyLines.length).toBeGreaterThan(0);
    expect(dependencyLines.filter((l) => l.includes('"stack"'))).toEqual([]);
    // TypeORM's own warnings (pool connections dying) are JSON lines too, none plain text.
    expect(logged.filter((l) => l.trim() !== '' && !l.startsWith('{'))).toEqual([]);

    const whileDown = samples.filter((s) => s.startedAt > downAt && s.startedAt + s.ms < downUntil);
    const summary = summarize(whileDown);
    for (const name of ['me', 'patch', 'signup']) {
      const outcomes = whileDown.filter((s) => s.name === name);
      expect(outcomes.length).toBeGreaterThan(0);
      expect({
        name,
        bad: outcomes.filter(
          (s) => !(s.outcome === 503 && s.code === 'dependency_unavailable' && /problem\+json/.test(s.contentType ?? '')),
        ).length,
        summary,
      }).toEqual({ name, bad: 0, summary });
      expect(Math.max(...outcomes.map((s) => s.ms))).toBeLessThan(5000);
    }
    expect(whileDown.filter((s) => s.name === 'liveness' && s.outcome !== 200)).toEqual([]);
    expect(Math.max(...whileDown.filter((s) => s.name === 'readiness').map((s) => s.ms))).toBeLessThan(2000);
    expect(samples.filter((s) => s.outcome === 'timeout' || s.outcome === 500)).toEqual([]);
    expect(noticedMs).toBeLessThan(2000);
    expect(recoveredMs).toBeLessThan(10_000);
    expect(server.process.child.exitCode).toBeNull();

    // No half-written rows: a signup is its pending row and its mail, together or not at all; a
    // confirmed user came with its session and its first refresh token.
    expect(
      await count(`SELECT count(*) AS n FROM pending_signups p WHERE NOT EXISTS (SELECT 1 FROM mail_outbox m WHERE m."to" = p.email)`),
    ).toBe(0);
    expect(
      await count(`SELECT count(*) AS n FROM mail_outbox m WHERE NOT EXISTS (SELECT 1 FROM pending_signups p WHERE p.email = m."to")`),
    ).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM users u WHERE NOT EXISTS (SELECT 1 FROM auth_sessions s WHERE s.user_id = u.id)`)).toBe(
      0,
    );
    expect(
      await count(
        `SELECT count(*) AS n FROM auth_sessions s WHERE NOT EXISTS (SELECT 1 FROM auth_refresh_tokens t WHERE t.session_id = s.id)`,
      ),
    ).toBe(0);
    // Every acknowledged signup (202) is durable.
    const acknowledged = samples.filter((s) => s.name === 'signup' && s.outcome === 202).length;
    expect(await count(`SELECT count(*) AS n FROM pending_signups WHERE email LIKE 'pg\\_%'`)).toBeGreaterThanOrEqual(acknowledged);
    // The mail worker survived the outage: every queued mail reaches its mailbox. Delivery is
    // at-least-once: a mail sent just before the outage whose `sent` mark was lost is re-sent when
    // its lease expires, so this checks delivery, not the row status.
    const queued = (await pg.query<{ to: string }>(db, `SELECT "to" FROM mail_outbox`)).map((r) => r.to);
    await eventually(() => queued.every((to) => mailbox.mailsTo(to).length > 0), 20_000, 100);
    expect(signups.length).toBeGreaterThan(0);
  });
});
