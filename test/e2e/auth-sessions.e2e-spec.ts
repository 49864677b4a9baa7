import { randomUUID } from 'node:crypto';
import { getRedisConnectionToken } from '@nestjs-modules/ioredis';
import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { emailKey } from '../../src/modules/auth/auth-secrets';
import { ConcurrencyLimit, HASHES_IN_FLIGHT, MAX_WAITING_HASHES, PasswordHasher } from '../../src/modules/auth/password-hasher';
import { SessionRevocationStore } from '../../src/modules/auth/session-revocation.store';
import { SessionsRepository } from '../../src/modules/auth/sessions/sessions.repository';
import { SessionsService } from '../../src/modules/auth/sessions/sessions.service';
import type { RequestMeta } from '../../src/modules/auth/request-meta';
import { randomIp, signUpAndLogin, uniqueName, type SignedUpUser } from './support/auth';
import { eventually, expectProblem, request, type ApiResponse } from './support/http';
import type { Mailbox } from './support/mailbox';
import { captureQueries, planOf } from './support/queries';
import { createTestApp, startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

const LOGIN = '/api/v1/auth/sessions';
const REFRESH = '/api/v1/auth/sessions/refresh';
const LOOKUP = '/api/v1/auth/users';

// Argon2 (19 MiB, t=2) on every signup and login is slow on a shared 2-core machine.
jest.setTimeout(60_000);

type Tokens = { access_token: string; refresh_token: string; user: { id: string; email: string } };

describe('auth: login, refresh, logout', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;
  const GRACE_MS = 400;

  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({
      TRUST_PROXY: 'true',
      AUTH_REFRESH_GRACE_MS: String(GRACE_MS),
      AUTH_MAIL_MIN_INTERVAL_SECONDS: '0',
    }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  const call = (
    method: string,
    path: string,
    opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
    app: TestApp = t,
  ): Promise<ApiResponse> => request(app.url, method, path, { ...opts, headers: { 'x-forwarded-for': randomIp(), ...opts.headers } });
  const login = (email: string, password: string, headers?: Record<string, string>) =>
    call('POST', LOGIN, { body: { email, password }, headers });
  const refresh = (token: string) => call('POST', REFRESH, { body: { refresh_token: token } });
  /** A route behind the guard: a non-admin gets 403 when the token is accepted, 401 when it is not. */
  const probe = (token: string, app: TestApp = t) => call('GET', `${LOOKUP}?email=x@example.test`, { token }, app);

  it('logs in (case-insensitive email) with the exact token response and records the session', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const res = await login(u.user.email.toUpperCase(), u.password, { 'user-agent': 'jest-agent/1.0' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: 3600,
      token_type: 'bearer',
      user: u.user,
    });
    expect(res.headers.get('cache-control')).toBe('no-store'); // RFC 6749 §5.1: tokens are never cached
    const body = res.body as Tokens;
    expect(Buffer.from(body.refresh_token, 'base64url')).toHaveLength(32);
    const [session] = await db.query<{ user_agent: string; ip: string; revoked_at: Date | null; max_age: number; refresh_hash: string }[]>(
      `SELECT user_agent, ip, revoked_at, extract(epoch FROM expires_at - created_at)::int AS max_age, refresh_hash FROM auth_sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [u.user.id],
    );
    expect(session).toEqual(
      expect.objectContaining({ user_agent: 'jest-agent/1.0', ip: expect.stringMatching(/^10\./), revoked_at: null, max_age: 90 * 86400 }),
    );
    expect(session!.refresh_hash).not.toContain(body.refresh_token);
    expect((await probe(body.access_token)).status).toBe(403);
  });

  it('answers unknown email and wrong password alike (401 invalid_credentials), and unconfirmed + right password with email_not_confirmed', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const wrong = await login(u.user.email, 'wrong-password');
    const unknown = await login(`${uniqueName('ghost')}@example.test`, 'wrong-password');
    for (const res of [wrong, unknown]) {
      const problem = expectProblem(res, 401, 'invalid_credentials', LOGIN);
      expect(problem.detail).toBe('邮箱或密码错误');
    }
    expect(wrong.body).toEqual(unknown.body);
    expect(expectProblem(await login(u.user.email, 'wrong-password', { 'accept-language': 'en' }), 401, 'invalid_credentials').detail).toBe(
      'The email or password is incorrect.',
    );

    const username = uniqueName();
    const email = `${username}@example.test`;
    expect((await call('POST', '/api/v1/auth/verifications', { body: { username, email, password: 'pending-pass' } })).status).toBe(202);
    expectProblem(await login(email, 'pending-pass'), 401, 'email_not_confirmed', LOGIN);
    expectProblem(await login(email, 'not-the-pass'), 401, 'invalid_credentials');
    expectProblem(await login(email, '12345'), 422, 'validation_failed');
    expectProblem(await login('not-an-email', 'secret1'), 422, 'validation_failed');
  });

  it('a signup made with an address and a password answers logins alike whether or not the address has an account (no enumeration oracle)', async () => {
    const hasher = t.app.get(PasswordHasher);
    const verifications = jest.spyOn(hasher, 'verify');
    try {
      const confirmed = await signUpAndLogin(t, mailbox);
      const unknownEmail = `${uniqueName('ghost')}@example.test`;
      // Someone signs both addresses up with a password of their own (each signup holds its username).
      for (const email of [confirmed.user.email, unknownEmail]) {
        const body = { username: uniqueName(), email, password: 'probe-pass' };
        expect((await call('POST', '/api/v1/auth/verifications', { body })).status).toBe(202);
      }
      const outcome = async (email: string, password: string) => {
        verifications.mockClear();
        const res = await login(email, password);
        return { status: res.status, code: (res.body as { code?: string }).code, hashes: verifications.mock.calls.length };
      };
      // The prober's password: the same answer, after the same number of hash verifications.
      const probe = await outcome(unknownEmail, 'probe-pass');
      expect(probe).toEqual({ status: 401, code: 'email_not_confirmed', hashes: 2 });
      expect(await outcome(confirmed.user.email, 'probe-pass')).toEqual(probe);
      // Any other password: alike too.
      const wrong = await outcome(unknownEmail, 'other-pass');
      expect(wrong).toEqual({ status: 401, code: 'invalid_credentials', hashes: 2 });
      expect(await outcome(confirmed.user.email, 'other-pass')).toEqual(wrong);
      // The account's own password still logs in.
      expect((await login(confirmed.user.email, confirmed.password)).status).toBe(200);
    } finally {
      verifications.mockRestore();
    }
  });

  it('refresh rotates the token; the rotated one replays the same replacement within the grace period', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const first = await refresh(u.refreshToken);
    expect(first.status).toBe(200);
    const r1 = first.body as Tokens;
    expect(first.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: 3600,
      token_type: 'bearer',
      user: u.user,
    });
    expect(r1.refresh_token).not.toBe(u.refreshToken);
    const again = await refresh(u.refreshToken);
    expect(again.status).toBe(200);
    expect((again.body as Tokens).refresh_token).toBe(r1.refresh_token);
    // The chain continues from the replacement.
    const second = await refresh(r1.refresh_token);
    expect(second.status).toBe(200);
    expect((second.body as Tokens).refresh_token).not.toBe(r1.refresh_token);
    expect((await probe((second.body as Tokens).access_token)).status).toBe(403);
  });

  it("a session keeps its user's email and role; a session from before that snapshot still refreshes", async () => {
    const u = await signUpAndLogin(t, mailbox);
    const sessionId = (JSON.parse(Buffer.from(u.accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
    const [row] = await db.query<{ user_email: string; user_role: string }[]>(
      `SELECT user_email, user_role FROM auth_sessions WHERE id = $1`,
      [sessionId],
    );
    expect(row).toEqual({ user_email: u.user.email, user_role: 'user' });

    await db.query(`UPDATE auth_sessions SET user_email = NULL, user_role = NULL WHERE id = $1`, [sessionId]);
    const res = await refresh(u.refreshToken);
    expect(res.status).toBe(200);
    const body = res.body as Tokens;
    expect(body.user).toEqual(u.user);
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString()) as { sub: string; role: string };
    expect(claims).toMatchObject({ sub: u.user.id, role: 'user' });
  });

  it('10 concurrent refreshes of one token all get the same replacement and never fork the session', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(u.refreshToken)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    const tokens = new Set(results.map((r) => (r.body as Tokens).refresh_token));
    expect(tokens.size).toBe(1);
    const [replacement] = [...tokens];
    const [{ n }] = await db.query<[{ n: number }]>(
      `SELECT count(*)::int AS n FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE s.user_id = $1`,
      [u.user.id],
    );
    expect(n).toBe(2); // the original and exactly one rotation
    expect((await refresh(replacement!)).status).toBe(200);
  });

  describe('refreshes of the same moment share one statement', () => {
    const claimsOf = (accessToken: string) =>
      JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sub: string; sid: string };
    const sessionOf = (u: SignedUpUser) => claimsOf(u.accessToken).sid;
    const meta: RequestMeta = { requestId: 'test', ip: '10.0.0.1', userAgent: undefined, locale: 'en' };

    it('each caller gets its own session and user back, from one statement, and every new token works', async () => {
      const users = await Promise.all(Array.from({ length: 8 }, () => signUpAndLogin(t, mailbox)));
      const service = t.app.get(SessionsService);
      let answers: Awaited<ReturnType<SessionsService['refresh']>>[] = [];
      const statements = (
        await captureQueries(db, async () => {
          answers = await Promise.all(users.map((u) => service.refresh(u.refreshToken, meta)));
        })
      ).map((q) => q.sql);
      expect(statements.filter((sql) => sql.includes('auth_sessions'))).toEqual([expect.stringContaining('unnest(')]);
      expect(answers.map((a) => ({ user: a.user, claims: claimsOf(a.access_token) }))).toEqual(
        users.map((u) => ({ user: u.user, claims: expect.objectContaining({ sub: u.user.id, sid: sessionOf(u) }) })),
      );
      const next = await Promise.all(answers.map((a) => refresh(a.refresh_token)));
      expect(next.map((r) => [r.status, (r.body as Tokens).user])).toEqual(users.map((u) => [200, u.user]));
    });

    it('one token twice in a batch (two tabs): one rotation, both get the same replacement, no fork, no revocation', async () => {
      const [a, b] = [await signUpAndLogin(t, mailbox), await signUpAndLogin(t, mailbox)];
      const service = t.app.get(SessionsService);
      const [a1, a2, b1] = await Promise.all([
        service.refresh(a.refreshToken, meta),
        service.refresh(a.refreshToken, meta),
        service.refresh(b.refreshToken, meta),
      ]);
      expect(a2.refresh_token).toBe(a1.refresh_token); // the second took the slow path: the grace replay
      expect([a1.user, b1.user]).toEqual([a.user, b.user]);
      const rows = await db.query<{ revoked_at: Date | null; n: number }[]>(
        `SELECT s.revoked_at, (SELECT count(*)::int FROM auth_refresh_tokens t WHERE t.session_id = s.id) AS n
           FROM auth_sessions s WHERE s.id = $1`,
        [sessionOf(a)],
      );
      expect(rows).toEqual([{ revoked_at: null, n: 2 }]); // the original and exactly one rotation
      expect((await refresh(a1.refresh_token)).status).toBe(200);
    });

    it('a batch that fails is retried one by one: its callers still get their own tokens', async () => {
      const users = await Promise.all(Array.from({ length: 4 }, () => signUpAndLogin(t, mailbox)));
      // PostgreSQL refuses any statement that rotates more than one of these sessions at once (the
      // batch), as a deadlock would, and counts how often it did in a sequence (not rolled back).
      const tag = `test_batch_fail_${randomUUID().replace(/-/g, '')}`;
      const sessions = users.map((u) => `'${sessionOf(u)}'`).join(', ');
      await db.query(`CREATE SEQUENCE ${tag}_refused`);
      await db.query(
        `CREATE FUNCTION ${tag}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           IF (SELECT count(*) FROM new_rows WHERE session_id IN (${sessions})) > 1 THEN
             PERFORM nextval('${tag}_refused');
             RAISE EXCEPTION 'deadlock detected (test)' USING ERRCODE = '40P01';
           END IF;
           RETURN NULL;
         END $$`,
      );
      await db.query(
        `CREATE TRIGGER ${tag} AFTER INSERT ON auth_refresh_tokens REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${tag}()`,
      );
      try {
        const answers = await Promise.all(users.map((u) => t.app.get(SessionsService).refresh(u.refreshToken, meta)));
        expect(answers.map((a) => claimsOf(a.access_token).sid)).toEqual(users.map(sessionOf));
        const [{ refused }] = await db.query<[{ refused: string }]>(
          `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS refused FROM ${tag}_refused`,
        );
        expect(Number(refused)).toBe(1); // the one batch, then each rotation alone
      } finally {
        await db.query(`DROP TRIGGER ${tag} ON auth_refresh_tokens`);
        await db.query(`DROP FUNCTION ${tag}()`);
        await db.query(`DROP SEQUENCE ${tag}_refused`);
      }
    });
  });

  it('reuse of a rotated token after the grace period revokes the whole session (401) and logs a security event', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const u = await signUpAndLogin(t, mailbox);
      const r1 = (await refresh(u.refreshToken)).body as Tokens;
      const [{ rotated_at }] = await db.query<[{ rotated_at: Date }]>(`SELECT rotated_at FROM auth_sessions WHERE user_id = $1`, [
        u.user.id,
      ]);
      await eventually(async () => {
        const [{ past }] = await db.query<[{ past: boolean }]>(`SELECT now() > $1::timestamptz + make_interval(secs => $2) AS past`, [
          rotated_at,
          GRACE_MS / 1000,
        ]);
        return past;
      }, 5000);
      const reuse = await refresh(u.refreshToken);
      expect(expectProblem(reuse, 401, 'invalid_refresh_token', REFRESH).detail).toBe('无效的 refresh token');
      // Everything of that session is dead now: the replacement and its access token.
      expectProblem(await refresh(r1.refresh_token), 401, 'invalid_refresh_token');
      expectProblem(await probe(r1.access_token), 401, 'invalid_token');
      expectProblem(await probe(u.accessToken), 401, 'invalid_token');
      const [row] = await db.query<{ revoked_reason: string }[]>(`SELECT revoked_reason FROM auth_sessions WHERE user_id = $1`, [
        u.user.id,
      ]);
      expect(row!.revoked_reason).toBe('refresh_reuse');
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({ event: 'security.refresh_token_reuse', user_id: u.user.id }),
        expect.any(String),
      );
      // Other sessions of the user are untouched.
      expect((await login(u.user.email, u.password)).status).toBe(200);
    } finally {
      warn.mockRestore();
    }
  });

  it('unknown, garbage and missing refresh tokens', async () => {
    expectProblem(await refresh('x'.repeat(43)), 401, 'invalid_refresh_token', REFRESH);
    expectProblem(await call('POST', REFRESH, { body: {} }), 422, 'validation_failed');
    expectProblem(await call('POST', REFRESH, { body: { refresh_token: 5 } }), 422, 'validation_failed');
  });

  it('sessions end after 30 days without use or 90 days in all', async () => {
    const idle = await signUpAndLogin(t, mailbox);
    await db.query(`UPDATE auth_sessions SET last_used_at = now() - interval '30 days 1 minute' WHERE user_id = $1`, [idle.user.id]);
    expectProblem(await refresh(idle.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await probe(idle.accessToken), 401, 'invalid_token');

    const old = await signUpAndLogin(t, mailbox);
    // Used yesterday, but opened 90 days ago.
    await db.query(
      `UPDATE auth_sessions SET last_used_at = now() - interval '1 day', expires_at = now() - interval '1 second' WHERE user_id = $1`,
      [old.user.id],
    );
    expectProblem(await refresh(old.refreshToken), 401, 'invalid_refresh_token');

    const fresh = await signUpAndLogin(t, mailbox);
    await db.query(`UPDATE auth_sessions SET last_used_at = now() - interval '29 days' WHERE user_id = $1`, [fresh.user.id]);
    expect((await refresh(fresh.refreshToken)).status).toBe(200);
  });

  it('logout revokes the session: its access token is refused at once on another replica; unknown or repeated logouts are 204', async () => {
    const replica = await createTestApp({ SMTP_URL: mailbox.smtpUrl, TRUST_PROXY: 'true' });
    try {
      const u = await signUpAndLogin(t, mailbox);
      const other = await login(u.user.email, u.password);
      const otherTokens = other.body as Tokens;
      expect((await probe(u.accessToken, replica)).status).toBe(403);

      const out = await call('DELETE', LOGIN, { body: { refresh_token: u.refreshToken } });
      expect(out.status).toBe(204);
      expect(out.text).toBe('');
      expectProblem(await probe(u.accessToken, replica), 401, 'invalid_token');
      expectProblem(await probe(u.accessToken), 401, 'invalid_token');
      expectProblem(await call('POST', REFRESH, { body: { refresh_token: u.refreshToken } }, replica), 401, 'invalid_refresh_token');
      // Only that session: the user's other session still works.
      expect((await probe(otherTokens.access_token, replica)).status).toBe(403);

      expect((await call('DELETE', LOGIN, { body: { refresh_token: u.refreshToken } })).status).toBe(204);
      expect((await call('DELETE', LOGIN, { body: { refresh_token: 'unknown-token' } })).status).toBe(204);
      expectProblem(await call('DELETE', LOGIN, { body: {} }), 422, 'validation_failed', LOGIN);
      expectProblem(await call('DELETE', LOGIN), 422, 'validation_failed', LOGIN);
    } finally {
      await replica.close();
    }
  });

  it('a Redis that lost the revocation set (restart without persistence) still refuses revoked sessions: restored from PostgreSQL', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const other = (await login(u.user.email, u.password)).body as Tokens;
    expect((await call('DELETE', LOGIN, { body: { refresh_token: u.refreshToken } })).status).toBe(204);
    expectProblem(await probe(u.accessToken), 401, 'invalid_token');
    const [session] = await db.query<{ id: string }[]>(`SELECT id FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NOT NULL`, [
      u.user.id,
    ]);
    const redis = t.app.get<Redis>(getRedisConnectionToken());
    const revokedKey = `auth:revoked-session:${session!.id}`;
    expect(await redis.exists(revokedKey)).toBe(1);

    // The data loss: the revocation and the marker that the set is complete are gone.
    await redis.del(revokedKey, 'auth:revocations-complete');

    expectProblem(await probe(u.accessToken), 401, 'invalid_token');
    expect(await redis.exists(revokedKey)).toBe(1);
    expect(await redis.ttl(revokedKey)).toBeGreaterThan(3000); // what is left of an access token's hour
    expect(await redis.exists('auth:revocations-complete')).toBe(1);
    // Sessions that were not revoked are unaffected.
    expect((await probe(other.access_token)).status).toBe(403);
  });

  it('a revocation whose Redis write was lost (Redis down at logout) reaches Redis with the next resync', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const store = t.app.get(SessionRevocationStore);
    await store.resync(); // the first pass copies an access token's lifetime; the next ones what is new since
    // What a logout during a Redis outage leaves behind: committed in PostgreSQL, missing in Redis.
    await db.query(`UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE user_id = $1 AND revoked_at IS NULL`, [
      u.user.id,
    ]);
    const [session] = await db.query<{ id: string }[]>(`SELECT id FROM auth_sessions WHERE user_id = $1`, [u.user.id]);
    expect((await probe(u.accessToken)).status).toBe(403); // still accepted: Redis does not know yet
    expect(await store.resync()).toBeGreaterThanOrEqual(1);
    expectProblem(await probe(u.accessToken), 401, 'invalid_token');
    const redis = t.app.get<Redis>(getRedisConnectionToken());
    expect(await redis.ttl(`auth:revoked-session:${session!.id}`)).toBeGreaterThan(3000); // what is left of the token's hour
  });

  it('the resync reads recently revoked sessions through their index, not the whole table', async () => {
    const [query] = await captureQueries(db, () => t.app.get(SessionsRepository).revokedWithin(90, 3600));
    const plan = await planOf(db, query!);
    expect(plan).toMatch(/Index (Only )?Scan (using|on) ix_auth_sessions_revoked_at/);
  });

  it('login backoff: after 10 failures in 15 minutes further tries get 429 with Retry-After, for unknown emails alike', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const ghost = `${uniqueName('ghost')}@example.test`;
    for (const email of [u.user.email, ghost]) {
      for (let i = 0; i < 10; i++) expectProblem(await login(email, 'wrong-password'), 401, 'invalid_credentials');
      const limited = await login(email, 'wrong-password');
      expect(expectProblem(limited, 429, 'rate_limited', LOGIN).detail).toBe('请求过于频繁');
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(50);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Even the right password waits: the lock is per address, not per guess.
    expectProblem(await login(u.user.email, u.password), 429, 'rate_limited');
  });

  it('login backoff holds against concurrent guesses: of 40 at once, at most 10 are verified, the rest get 429', async () => {
    const u = await signUpAndLogin(t, mailbox);
    // Each from its own client IP (randomIp per call), so only the per-email rule can refuse them.
    const answers = await Promise.all(Array.from({ length: 40 }, () => login(u.user.email, 'wrong-password')));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    for (const res of answers) {
      if (res.status === 401) expectProblem(res, 401, 'invalid_credentials', LOGIN);
      else {
        expectProblem(res, 429, 'rate_limited', LOGIN);
        const retryAfter = Number(res.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThan(50);
        expect(retryAfter).toBeLessThanOrEqual(60);
      }
    }
    expectProblem(await login(u.user.email, u.password), 429, 'rate_limited');
    // Every attempt was settled: none still holds a slot.
    expect(await t.app.get<Redis>(getRedisConnectionToken()).exists(`auth:login-inflight:${emailKey(u.user.email)}`)).toBe(0);
  });

  it('the right password on the 10th try still logs in, after 9 failures', async () => {
    const u = await signUpAndLogin(t, mailbox);
    for (let i = 0; i < 9; i++) expectProblem(await login(u.user.email, 'wrong-password'), 401, 'invalid_credentials');
    expect((await login(u.user.email, u.password)).status).toBe(200);
  });

  it('a full hash queue answers login and signup at once with 503 server_busy and Retry-After, recording nothing', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const redis = t.app.get<Redis>(getRedisConnectionToken());
    // The process's hash slots and waiting room, filled with tasks that hold them until released
    // (the slots are private: reached here so the test needs no CPU-heavy flood of real hashes).
    const slots = (PasswordHasher as unknown as { slots: ConcurrencyLimit }).slots;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = Array.from({ length: HASHES_IN_FLIGHT + MAX_WAITING_HASHES }, () => slots.run(() => gate));
    const username = uniqueName('busy');
    const signupEmail = `${username}@example.test`;
    try {
      const refused = await login(u.user.email, 'wrong-password');
      expect(expectProblem(refused, 503, 'server_busy', LOGIN).detail).toBe('服务繁忙,请稍后重试。');
      expect(refused.headers.get('retry-after')).toBe('2');
      const signup = await call('POST', '/api/v1/auth/verifications', {
        body: { username, email: signupEmail, password: 'secret-password' },
      });
      expectProblem(signup, 503, 'server_busy', '/api/v1/auth/verifications');
    } finally {
      release();
      await Promise.all(held);
    }
    // Nothing was counted or written: no login failure for the wrong password (and its slot was
    // freed), no pending signup, no queued mail.
    expect(await redis.exists(`auth:login-fail:${emailKey(u.user.email)}`, `auth:login-inflight:${emailKey(u.user.email)}`)).toBe(0);
    expect(await db.query('SELECT 1 FROM pending_signups WHERE email = $1', [signupEmail])).toEqual([]);
    expect(await db.query('SELECT 1 FROM mail_outbox WHERE "to" = $1', [signupEmail])).toEqual([]);
    // With the queue drained, hashing works again.
    expect((await login(u.user.email, u.password)).status).toBe(200);
  });
});

describe('auth: login backoff grows and ends', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  beforeAll(async () => {
    // 1 s instead of 60 s as the first step, so growth and expiry are observable without long waits.
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true', AUTH_LOGIN_BACKOFF_BASE_SECONDS: '1' }));
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it('each failure after the lock doubles the wait (capped at 15 min), and the right password works once the wait is over', async () => {
    const u: SignedUpUser = await signUpAndLogin(t, mailbox);
    const login = (password: string) =>
      request(t.url, 'POST', LOGIN, { body: { email: u.user.email, password }, headers: { 'x-forwarded-for': randomIp() } });
    for (let i = 0; i < 10; i++) expect((await login('wrong-password')).status).toBe(401);
    const waits: number[] = [];
    for (let step = 0; step < 3; step++) {
      const limited = await login('wrong-password');
      expectProblem(limited, 429, 'rate_limited');
      waits.push(Number(limited.headers.get('retry-after')));
      // Wait out the lock (polling), then fail once more: the next lock is longer.
      await eventually(async () => (await login('wrong-password')).status === 401, 10_000, 100);
    }
    expect(waits).toEqual([1, 2, 4]);
    const final = await login('wrong-password');
    expect(Number(final.headers.get('retry-after'))).toBe(8);
    await eventually(async () => (await login(u.password)).status === 200, 15_000, 200);
  });

  it('a successful login clears the failures and the backoff level: the count starts again from zero', async () => {
    const u: SignedUpUser = await signUpAndLogin(t, mailbox);
    const redis = t.app.get<Redis>(getRedisConnectionToken());
    const login = (password: string) =>
      request(t.url, 'POST', LOGIN, { body: { email: u.user.email, password }, headers: { 'x-forwarded-for': randomIp() } });
    for (let i = 0; i < 10; i++) expect((await login('wrong-password')).status).toBe(401);
    await eventually(async () => (await login(u.password)).status === 200, 10_000, 100);
    expect(await redis.exists(`auth:login-fail:${emailKey(u.user.email)}`, `auth:login-level:${emailKey(u.user.email)}`)).toBe(0);
    // The count starts again (ten failures before the lock) and so does the level (1 s, not 2 s).
    for (let i = 0; i < 10; i++) expect((await login('wrong-password')).status).toBe(401);
    const limited = await login('wrong-password');
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBe(1);
  });

  it('once a lock has run out, concurrent guesses share one try, whose failure locks again for twice as long', async () => {
    const email = `${uniqueName('ghost')}@example.test`;
    const redis = t.app.get<Redis>(getRedisConnectionToken());
    const login = () =>
      request(t.url, 'POST', LOGIN, { body: { email, password: 'wrong-password' }, headers: { 'x-forwarded-for': randomIp() } });
    for (let i = 0; i < 10; i++) expect((await login()).status).toBe(401);
    // Watched in Redis, not with a login, which would spend the one try.
    await eventually(async () => (await redis.exists(`auth:login-lock:${emailKey(email)}`)) === 0, 10_000, 50);
    const answers = await Promise.all(Array.from({ length: 5 }, () => login()));
    expect(answers.map((r) => r.status).sort()).toEqual([401, 429, 429, 429, 429]);
    for (const res of answers.filter((r) => r.status === 429)) expect(res.headers.get('retry-after')).toBe('2');
  });

  it('the lock never exceeds 15 minutes, however many locks came before', async () => {
    const email = `${uniqueName('ghost')}@example.test`;
    // As if the address had been locked 20 times already (1 s · 2^20 would be 12 days).
    await t.app.get<Redis>(getRedisConnectionToken()).set(`auth:login-level:${emailKey(email)}`, '20', 'EX', 600);
    const login = () =>
      request(t.url, 'POST', LOGIN, { body: { email, password: 'wrong-password' }, headers: { 'x-forwarded-for': randomIp() } });
    for (let i = 0; i < 10; i++) expect((await login()).status).toBe(401);
    const limited = await login();
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBe(900);
  });
});

describe('auth: refresh grace period at its real default (10 s)', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true' }));
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it('a rotated token replays its replacement for 10 s, then revokes the session', async () => {
    expect(t.config.auth.refreshGraceMs).toBe(10_000);
    const u = await signUpAndLogin(t, mailbox);
    const refresh = (token: string) =>
      request<Tokens>(t.url, 'POST', REFRESH, { body: { refresh_token: token }, headers: { 'x-forwarded-for': randomIp() } });
    const rotatedAt = Date.now();
    const r1 = (await refresh(u.refreshToken)).body.refresh_token;
    // Keep presenting the old token (as a slow second tab would) until it stops working.
    const replays: number[] = [];
    let last: ApiResponse<Tokens> | undefined;
    await eventually(
      async () => {
        last = await refresh(u.refreshToken);
        if (last.status !== 200) return true;
        expect(last.body.refresh_token).toBe(r1);
        replays.push(Date.now() - rotatedAt);
        return false;
      },
      20_000,
      500,
    );
    expectProblem(last!, 401, 'invalid_refresh_token');
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(10_000);
    expect(Math.max(...replays)).toBeGreaterThan(8_000); // replayed for (nearly) the whole window
    expectProblem(await refresh(r1), 401, 'invalid_refresh_token');
  });
});
