import { Client } from 'pg';
import { runCli } from '../../src/cli';
import { runAdminCommand, type AdminCommand } from '../../src/modules/auth/cli/admin-cli';
import { dropDatabase, ensureDatabase } from '../../src/common/database/ensure-database';
import { AuditLog } from '../../src/common/logging/audit-log';
import { DataSource } from 'typeorm';
import { randomIp, signUpAndLogin, uniqueName, type SignedUpUser } from './support/auth';
import { eventually, expectProblem, request } from './support/http';
import { startMailbox, type Mailbox } from './support/mailbox';
import { freePort, spawnEnv, startServer } from './support/server-process';
import { createTestApp, startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

const LOOKUP = '/api/v1/auth/users';

jest.setTimeout(60_000);

function claims(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

describe('auth: roles, admin lookup and admin CLI', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  const adminName = uniqueName('admin');
  const adminEmail = `${adminName}@example.test`;

  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({
      TRUST_PROXY: 'true',
      ADMIN_EMAILS: `someone@example.test, ${adminEmail.toUpperCase()}`,
    }));
  });
  afterAll(() => stopMailedApp(t, mailbox));

  const lookup = (token: string | undefined, query: string, headers: Record<string, string> = {}) =>
    request(t.url, 'GET', `${LOOKUP}${query}`, { token, headers: { 'x-forwarded-for': randomIp(), ...headers } });

  it('role is user by default and admin for an address in ADMIN_EMAILS', async () => {
    const user = await signUpAndLogin(t, mailbox);
    expect(claims(user.accessToken).role).toBe('user');
    const admin = await signUpAndLogin(t, mailbox, { username: adminName, email: adminEmail });
    expect(claims(admin.accessToken).role).toBe('admin');
  });

  it('ADMIN_EMAILS applies when tokens are issued: an address taken off the list gets role user at the next refresh and login; a CLI grant stays', async () => {
    const listedName = uniqueName('listed');
    const listedEmail = `${listedName}@example.test`;
    // The same database, first with the address listed, then (this file's app) without it: a restart with the list changed.
    const listing = await createTestApp({ SMTP_URL: mailbox.smtpUrl, TRUST_PROXY: 'true', ADMIN_EMAILS: listedEmail });
    const listed = await signUpAndLogin(listing, mailbox, { username: listedName, email: listedEmail }).finally(() => listing.close());
    expect(claims(listed.accessToken).role).toBe('admin');

    const refreshed = await request<{ access_token: string }>(t.url, 'POST', '/api/v1/auth/sessions/refresh', {
      body: { refresh_token: listed.refreshToken },
      headers: { 'x-forwarded-for': randomIp() },
    });
    expect(refreshed.status).toBe(200);
    expect(claims(refreshed.body.access_token).role).toBe('user');
    const login = () =>
      request<{ access_token: string }>(t.url, 'POST', '/api/v1/auth/sessions', {
        body: { email: listedEmail, password: listed.password },
        headers: { 'x-forwarded-for': randomIp() },
      });
    const loggedIn = await login();
    expect(loggedIn.status).toBe(200);
    expect(claims(loggedIn.body.access_token).role).toBe('user');

    // A role granted through the CLI is stored, whatever the list says.
    const quiet = { write: () => undefined };
    expect(await runCli(['grant-admin', listedEmail], t.config, quiet, quiet)).toBe(0);
    expect(claims((await login()).body.access_token).role).toBe('admin');
  });

  it('GET /auth/users: exact, case-insensitive match for admins, audited; 404, 422, 403 and 401 otherwise', async () => {
    const admin = await signUpAndLogin(t, mailbox, { username: uniqueName('admin'), email: 'someone@example.test' });
    const target = await signUpAndLogin(t, mailbox);
    const log = jest.spyOn(t.app.get(AuditLog), 'write');
    try {
      const found = await lookup(admin.accessToken, `?email=${encodeURIComponent(target.user.email.toUpperCase())}`, {
        'x-request-id': 'req-lookup-1',
      });
      expect(found.status).toBe(200);
      expect(found.body).toEqual({
        id: target.user.id,
        email: target.user.email,
        created_at: expect.any(String),
        email_confirmed_at: expect.any(String),
      });
      const body = found.body as { created_at: string; email_confirmed_at: string };
      expect(new Date(body.created_at).toISOString()).toBe(body.created_at);
      expect(new Date(body.email_confirmed_at).toISOString()).toBe(body.email_confirmed_at);
      expect(log).toHaveBeenCalledWith(
        expect.objectContaining({
          event: 'audit.user_lookup',
          actor_id: admin.user.id,
          target_id: target.user.id,
          request_id: 'req-lookup-1',
        }),
        expect.any(String),
      );
    } finally {
      log.mockRestore();
    }
    // Exact: a prefix is not a match.
    const prefix = target.user.email.slice(0, -1);
    expect(
      expectProblem(await lookup(admin.accessToken, `?email=${encodeURIComponent(prefix)}`), 404, 'user_not_found', LOOKUP).detail,
    ).toBe('用户不存在');
    expectProblem(await lookup(admin.accessToken, `?email=nobody-${uniqueName()}@example.test`), 404, 'user_not_found');
    expectProblem(await lookup(admin.accessToken, ''), 422, 'validation_failed', LOOKUP);
    expectProblem(await lookup(admin.accessToken, '?email=not-an-email'), 422, 'validation_failed');

    const forbidden = expectProblem(
      await lookup(target.accessToken, `?email=${encodeURIComponent(admin.user.email)}`),
      403,
      'not_admin',
      LOOKUP,
    );
    expect(forbidden.detail).toBe('无权限访问');
    expectProblem(await lookup(undefined, `?email=${encodeURIComponent(admin.user.email)}`), 401, 'unauthenticated');
  });

  it('with LOG_LEVEL=warn the audit line is still written, while access lines stay out', async () => {
    const admin = await signUpAndLogin(t, mailbox); // made admin by the server's ADMIN_EMAILS below
    const target = await signUpAndLogin(t, mailbox);
    // The real process (src/main.ts) on this run's database and Redis, its stdout captured.
    const port = await freePort();
    const server = startServer(
      {
        ...spawnEnv(),
        MAIL_OUTBOX_LANE: uniqueName('audit'),
        TRUST_PROXY: 'true',
        ADMIN_EMAILS: admin.user.email,
        LOG_LEVEL: 'warn',
      },
      port,
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);
      const session = await request<{ access_token: string }>(url, 'POST', '/api/v1/auth/sessions', {
        body: { email: admin.user.email, password: admin.password },
        headers: { 'x-forwarded-for': randomIp() },
      });
      expect(session.status).toBe(200);
      const found = await request(url, 'GET', `${LOOKUP}?email=${encodeURIComponent(target.user.email)}`, {
        token: session.body.access_token,
        headers: { 'x-forwarded-for': randomIp(), 'x-request-id': 'req-audit-warn' },
      });
      expect(found.status).toBe(200);
      await eventually(() => server.stdout().includes('"request_id":"req-audit-warn"'), 5_000, 50);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
    const lines = server
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown> & { level: number });
    expect(lines.filter((l) => l.event === 'audit.user_lookup')).toEqual([
      expect.objectContaining({
        level: 30,
        context: 'Audit',
        actor_id: admin.user.id,
        target_email: target.user.email,
        target_id: target.user.id,
        request_id: 'req-audit-warn',
      }),
    ]);
    // Nothing else below warn, no access line in particular (all written by now: the process has exited).
    expect(lines.filter((l) => l.level < 40 && l.event !== 'audit.user_lookup')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'request completed')).toEqual([]);
  });

  it("npm run cli -- grant-admin / revoke-admin change the role and close the user's sessions", async () => {
    const u = await signUpAndLogin(t, mailbox);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: { write: (s: string) => void out.push(s) }, err: { write: (s: string) => void err.push(s) } };

    expect(await runCli(['grant-admin', u.user.email.toUpperCase()], t.config, io.out, io.err)).toBe(0);
    expect(out.join('')).toContain('role is now admin');
    // The old token (role user) is refused at once; a new login carries the new role.
    expectProblem(await lookup(u.accessToken, `?email=${encodeURIComponent(u.user.email)}`), 401, 'invalid_token');
    const asAdmin = await request<{ access_token: string }>(t.url, 'POST', '/api/v1/auth/sessions', {
      body: { email: u.user.email, password: u.password },
      headers: { 'x-forwarded-for': randomIp() },
    });
    expect(claims(asAdmin.body.access_token).role).toBe('admin');
    expect((await lookup(asAdmin.body.access_token, `?email=${encodeURIComponent(u.user.email)}`)).status).toBe(200);

    expect(await runCli(['revoke-admin', u.user.email], t.config, io.out, io.err)).toBe(0);
    expectProblem(await lookup(asAdmin.body.access_token, `?email=${encodeURIComponent(u.user.email)}`), 401, 'invalid_token');
    const asUser = await request<{ access_token: string }>(t.url, 'POST', '/api/v1/auth/sessions', {
      body: { email: u.user.email, password: u.password },
      headers: { 'x-forwarded-for': randomIp() },
    });
    expect(claims(asUser.body.access_token).role).toBe('user');

    expect(await runCli(['grant-admin', `nobody-${uniqueName()}@example.test`], t.config, io.out, io.err)).toBe(1);
    expect(await runCli(['promote', u.user.email], t.config, io.out, io.err)).toBe(2);
    expect(err.join('')).toContain('usage: npm run cli -- grant-admin <email>');
  });
});

describe('admin CLI racing logins', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  const io = [{ write: () => undefined }, { write: () => undefined }] as const;
  // The command against the test app's own context: runCli would first boot one of its own, and
  // every login would be over by then.
  const admin = (name: AdminCommand['name'], email: string): Promise<number> => runAdminCommand(t.app, { name, email }, ...io);
  // Each login reads the user, then waits for a hash slot (a few threads for all of them) before it
  // opens its session: the command runs while most of them wait, holding the role they read. Ten:
  // the most one address may have in flight (CONTRACT.md's failure limit; more answer 429).
  const LOGINS = 10;

  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true' }));
  });
  afterAll(() => stopMailedApp(t, mailbox));

  type Login = { status: number; body: { access_token: string; code?: string } };
  /** Fires the logins; resolves once the first has answered (the rest are in flight), with all of them to await. */
  const startLogins = async (u: SignedUpUser): Promise<{ all: Promise<Login[]> }> => {
    const logins = Array.from({ length: LOGINS }, () =>
      request<Login['body']>(t.url, 'POST', '/api/v1/auth/sessions', {
        body: { email: u.user.email, password: u.password },
        headers: { 'x-forwarded-for': randomIp() },
      }),
    );
    await Promise.race(logins);
    return { all: Promise.all(logins) }; // wrapped: awaiting a promise of a promise would wait for all of them
  };
  const openSessionsOf = (userId: string) =>
    t.app
      .get(DataSource)
      .query<{ user_role: string }[]>(`SELECT user_role FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL`, [userId]);

  it('revoke-admin: no session opened around it keeps the admin role; each one is closed or has role user', async () => {
    const u = await signUpAndLogin(t, mailbox);
    expect(await admin('grant-admin', u.user.email)).toBe(0);
    const logins = await startLogins(u);
    expect(await admin('revoke-admin', u.user.email)).toBe(0);
    const answered = await logins.all;
    expect(answered.map((l) => l.status)).toEqual(Array<number>(LOGINS).fill(200));

    const open = await openSessionsOf(u.user.id);
    expect(open.map((s) => s.user_role).filter((role) => role !== 'user')).toEqual([]);
    expect(open.length).toBeGreaterThan(0); // some logins did open their session after the command
    // No access token handed out works as an admin's: 401 (session closed) or 403 (role user).
    const lookups = await Promise.all(
      answered.map((l) =>
        request(t.url, 'GET', `/api/v1/auth/users?email=${encodeURIComponent(u.user.email)}`, {
          token: l.body.access_token,
          headers: { 'x-forwarded-for': randomIp() },
        }),
      ),
    );
    expect(lookups.map((r) => r.status).filter((status) => status !== 401 && status !== 403)).toEqual([]);
  });

  it('delete-user: each login around it answers 200 with tokens that stop working, or 401 invalid_credentials; never a 500', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const logins = await startLogins(u);
    expect(await admin('delete-user', u.user.email)).toBe(0);
    const answered = await logins.all;
    expect(answered.filter((l) => l.status !== 200 && !(l.status === 401 && l.body.code === 'invalid_credentials'))).toEqual([]);
    expect(answered.some((l) => l.status === 401)).toBe(true); // some logins came after the deletion

    expect(await openSessionsOf(u.user.id)).toEqual([]);
    const chats = await Promise.all(
      answered.filter((l) => l.status === 200).map((l) => request(t.url, 'GET', '/api/v1/agent-chats', { token: l.body.access_token })),
    );
    expect(chats.map((r) => r.status).filter((status) => status !== 401)).toEqual([]);
  });
});

describe('admin CLI failures', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let scratch: URL;
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: [{ write: (s: string) => void out.push(s) }, { write: (s: string) => void err.push(s) }] as const };
  };
  /** The CLI as its own process (as `npm run cli` runs it): its exit code and its stderr lines. */
  const cli = async (args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; stderr: string[] }> => {
    const run = startServer({ ...spawnEnv(), NODE_ENV: 'test', ...env }, undefined, [
      '-r',
      'ts-node/register/transpile-only',
      'src/cli.ts',
      ...args,
    ]);
    const code = await run.exited;
    return {
      code,
      stderr: run
        .stderr()
        .split('\n')
        .filter((l) => l !== ''),
    };
  };

  beforeAll(async () => {
    mailbox = await startMailbox();
    t = await createTestApp({ SMTP_URL: mailbox.smtpUrl, TRUST_PROXY: 'true' });
    scratch = new URL(t.config.database.url);
    scratch.pathname = `${scratch.pathname}_cli_${uniqueName()}`;
    await ensureDatabase(scratch.toString()); // empty: never migrated
  });
  afterAll(async () => {
    await t.close();
    await mailbox.stop();
    await dropDatabase(scratch.toString());
  });

  const tablesIn = async (url: URL): Promise<number> => {
    const client = new Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0]!.n);
    } finally {
      await client.end();
    }
  };

  it('checks its arguments before connecting: usage, exit 2, even with PostgreSQL and Redis unreachable', async () => {
    const c = capture();
    const unreachable = {
      ...t.config,
      database: { ...t.config.database, url: 'postgres://postgres@127.0.0.1:1/nowhere' },
      redis: { ...t.config.redis, url: 'redis://127.0.0.1:1' },
    };
    expect(await runCli(['--help'], unreachable, ...c.io)).toBe(2);
    expect(c.err.join('')).toBe('usage: npm run cli -- grant-admin <email> | revoke-admin <email> | delete-user <email>\n');
    expect(c.out).toEqual([]);
  });

  it('never migrates: against an empty database it changes nothing and fails with one line, exit 3', async () => {
    const empty = { DATABASE_URL: scratch.toString(), DB_MIGRATIONS_RUN: 'true' };
    expect((await cli(['--help'], empty)).code).toBe(2);
    const run = await cli(['grant-admin', 'someone@example.test'], empty);
    // Refused before any statement, naming what the database lacks.
    expect(run).toEqual({
      code: 3,
      stderr: [expect.stringMatching(/^cli failed: the database lacks \d+ migration\(s\) .*CreateUsers.*migrate\.js/)],
    });
    expect(await tablesIn(scratch)).toBe(0);
  });

  it('PostgreSQL unreachable: one line, exit 3 (not 1, which means no such user)', async () => {
    const run = await cli(['delete-user', 'someone@example.test'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(run).toEqual({ code: 3, stderr: [expect.stringMatching(/^cli failed: .*ECONNREFUSED/)] });
  });

  it('Redis unreachable: one line, exit 3, and nothing changed (role, sessions); run again once it answers: done', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const run = await cli(['grant-admin', u.user.email], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(run).toEqual({ code: 3, stderr: [expect.stringMatching(/^cli failed: /)] });
    const roleOf = async (): Promise<string | undefined> =>
      (await t.app.get(DataSource).query<{ role: string }[]>(`SELECT role FROM users WHERE id = $1`, [u.user.id]))[0]?.role;
    expect(await roleOf()).toBe('user');
    expect((await request(t.url, 'GET', '/api/v1/users/me', { token: u.accessToken })).status).toBe(200);

    const again = capture();
    expect(await runCli(['grant-admin', u.user.email], t.config, ...again.io)).toBe(0);
    expect(again.out.join('')).toBe(`${u.user.email}: role is now admin; 1 session(s) closed\n`);
    expect(await roleOf()).toBe('admin');
    expectProblem(await request(t.url, 'GET', '/api/v1/users/me', { token: u.accessToken }), 401, 'invalid_token');
  });
});
