import { DataSource } from 'typeorm';
import { randomIp, signUpAndLogin, uniqueName } from './support/auth';
import { eventually, expectProblem, request, type ApiResponse } from './support/http';
import { extractCode, type Mailbox } from './support/mailbox';
import { startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

const SIGNUP = '/api/v1/auth/verifications';
const RESEND = '/api/v1/auth/verifications/resend';
const VERIFY = '/api/v1/auth/verifications/verify';
const LOGIN = '/api/v1/auth/sessions';

// Argon2 (19 MiB, t=2) on every signup and login is slow on a shared 2-core machine.
jest.setTimeout(60_000);

describe('auth: signup with emailed codes', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({
      TRUST_PROXY: 'true',
      // The 5-per-hour budget is tested without waiting a minute between mails; the 60 s gap has its own app below.
      AUTH_MAIL_MIN_INTERVAL_SECONDS: '0',
      REDIRECT_ALLOWLIST: 'https://app.example.com',
    }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  /** Each call is its own client, so per-IP limits only bite where a test wants them to. */
  const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> =>
    request(t.url, 'POST', path, { body, headers: { 'x-forwarded-for': randomIp(), ...headers } });

  const signup = (
    over: { username?: string; email?: string; password?: string; redirect_to?: string | null } = {},
    headers: Record<string, string> = {},
  ) => {
    const username = over.username ?? uniqueName();
    return post(
      SIGNUP,
      { username, email: over.email ?? `${username}@example.test`, password: over.password ?? 'correct horse', ...over },
      headers,
    );
  };

  it('signs up, mails a code naming the username, and verify answers the exact token response', async () => {
    const username = uniqueName('Alice');
    const email = `${username}@Example.test`;
    const res = await signup({ username, email });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ email: email.toLowerCase() });

    const mail = await mailbox.waitForMail(email);
    expect(mail.text).toContain(username);
    const code = extractCode(mail.text);
    expect(code).toMatch(/^[0-9]{6}$/);

    const verified = await post(VERIFY, { email, token: code });
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: 3600,
      token_type: 'bearer',
      user: { id: expect.any(String), email: email.toLowerCase() },
    });
    expect(Object.keys(verified.body as object).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type', 'user']);
  });

  it('access tokens carry exactly the contract claims', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const [header, payload] = u.accessToken
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toEqual(expect.objectContaining({ alg: 'HS256' }));
    expect(payload).toEqual({
      sub: u.user.id,
      sid: expect.any(String),
      role: 'user',
      iat: expect.any(Number),
      exp: expect.any(Number),
      iss: t.config.jwt.issuer,
      aud: t.config.jwt.audience,
    });
    expect((payload!.exp as number) - (payload!.iat as number)).toBe(3600);
  });

  it('rejects invalid signup bodies with 422 field errors', async () => {
    const u = uniqueName();
    const cases: [Record<string, unknown>, string][] = [
      [{ username: 'ab', email: `${u}@example.test`, password: 'secret1' }, 'username'],
      [{ username: 'has space', email: `${u}@example.test`, password: 'secret1' }, 'username'],
      [{ username: u, email: 'not-an-email', password: 'secret1' }, 'email'],
      [{ username: u, email: `${u}@example.test`, password: '12345' }, 'password'],
      [{ username: u, email: `${u}@example.test`, password: 'x'.repeat(129) }, 'password'],
      [{ username: u, email: `${u}@example.test`, password: 'secret1', extra: 1 }, 'extra'],
      [{ username: u, email: `${u}@example.test`, password: 'secret1', redirect_to: 'https://evil.example.com/x' }, 'redirect_to'],
      [{ username: u, email: `${u}@example.test`, password: 'secret1', redirect_to: '/relative' }, 'redirect_to'],
    ];
    for (const [body, field] of cases) {
      const res = await post(SIGNUP, body);
      const problem = expectProblem(res, 422, 'validation_failed', SIGNUP);
      expect(problem.detail).toBe('请求参数无效');
      expect(problem.errors?.map((e) => e.field)).toContain(field);
    }
    // 6 and 128 characters are fine.
    expect((await signup({ password: '123456' })).status).toBe(202);
    expect((await signup({ password: 'y'.repeat(128) })).status).toBe(202);
  });

  it('links to an allow-listed redirect_to with ?email= and picks the English template by Accept-Language', async () => {
    const username = uniqueName();
    const email = `${username}@example.test`;
    const res = await signup(
      { username, email, redirect_to: 'https://app.example.com/confirm?step=2' },
      { 'accept-language': 'en-US,en;q=0.9' },
    );
    expect(res.status).toBe(202);
    const mail = await mailbox.waitForMail(email);
    expect(mail.text).toContain(`https://app.example.com/confirm?step=2&email=${encodeURIComponent(email)}`);
    expect(mail.text).toMatch(/verification code for the username "[^"]+"/);
    expect(mail.text).toContain(username);
    extractCode(mail.text);

    const zhName = uniqueName();
    await signup({ username: zhName, email: `${zhName}@example.test` });
    const zh = await mailbox.waitForMail(`${zhName}@example.test`);
    expect(zh.text).toContain('验证码');
    expect(zh.text).toContain(zhName);

    // null, as clients that write unset optional fields send it: no link, like an absent field.
    const nullName = uniqueName();
    expect((await signup({ username: nullName, email: `${nullName}@example.test`, redirect_to: null })).status).toBe(202);
    const plain = await mailbox.waitForMail(`${nullName}@example.test`);
    expect(plain.text).not.toContain('http');
    extractCode(plain.text);
  });

  it('stores codes only as an HMAC and answers a wrong code 401 invalid_otp in both languages', async () => {
    const username = uniqueName();
    const email = `${username}@example.test`;
    await signup({ username, email });
    const code = extractCode((await mailbox.waitForMail(email)).text);
    const rows = await db.query<Record<string, unknown>[]>(`SELECT * FROM pending_signups WHERE email = $1`, [email]);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(Buffer.isBuffer(row.code_hmac) && row.code_hmac.length).toBe(32);
    expect(JSON.stringify(row)).not.toContain(code);
    expect(String(row.password_hash)).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);

    const wrong = otherCode(code);
    const zh = expectProblem(await post(VERIFY, { email, token: wrong }), 401, 'invalid_otp', VERIFY);
    expect(zh.detail).toBe('验证码无效或已过期');
    const en = expectProblem(await post(VERIFY, { email, token: wrong }, { 'accept-language': 'en' }), 401, 'invalid_otp');
    expect(en.detail).toBe('The verification code is invalid or has expired.');
    expectProblem(await post(VERIFY, { email, token: '12345' }), 422, 'validation_failed');
    expectProblem(await post(VERIFY, { email: `nobody-${username}@example.test`, token: code }), 401, 'invalid_otp');
    expect((await post(VERIFY, { email, token: code })).status).toBe(200);
  });

  it('a code dies after 5 wrong tries, even for the right code afterwards', async () => {
    const username = uniqueName();
    const email = `${username}@example.test`;
    await signup({ username, email });
    const code = extractCode((await mailbox.waitForMail(email)).text);
    for (let i = 0; i < 5; i++) expectProblem(await post(VERIFY, { email, token: otherCode(code, i) }), 401, 'invalid_otp');
    const [row] = await db.query<{ attempts: number }[]>(`SELECT attempts FROM pending_signups WHERE email = $1`, [email]);
    expect(row!.attempts).toBe(5);
    expectProblem(await post(VERIFY, { email, token: code }), 401, 'invalid_otp');
  });

  it('a code is single-use and expires after 10 minutes', async () => {
    const u1 = await signupAndCode();
    expect((await post(VERIFY, { email: u1.email, token: u1.code })).status).toBe(200);
    expectProblem(await post(VERIFY, { email: u1.email, token: u1.code }), 401, 'invalid_otp');

    const u2 = await signupAndCode();
    const [row] = await db.query<{ ttl: string }[]>(
      `SELECT extract(epoch FROM code_expires_at - created_at) AS ttl FROM pending_signups WHERE email = $1`,
      [u2.email],
    );
    expect(Math.round(Number(row!.ttl))).toBe(600);
    // Time travel instead of waiting: the row's expiry is what the server checks.
    await db.query(`UPDATE pending_signups SET code_expires_at = now() - interval '1 second' WHERE email = $1`, [u2.email]);
    expectProblem(await post(VERIFY, { email: u2.email, token: u2.code }), 401, 'invalid_otp');
  });

  it('two concurrent verifies of one code: exactly one 200', async () => {
    const u = await signupAndCode();
    const results = await Promise.all(Array.from({ length: 6 }, () => post(VERIFY, { email: u.email, token: u.code })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 401, 401, 401, 401, 401]);
    for (const r of results.filter((x) => x.status === 401)) expectProblem(r, 401, 'invalid_otp');
    const [count] = await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM users WHERE email = $1`, [u.email]);
    expect(count!.n).toBe(1);
    const [sessions] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1`,
      [u.email],
    );
    expect(sessions!.n).toBe(1);
  });

  it('a second signup for an unconfirmed address cannot set the password the first registrant gets', async () => {
    const email = `${uniqueName('victim')}@example.test`;
    const victimName = uniqueName('victim');
    const attackerName = uniqueName('attacker');
    expect((await signup({ username: victimName, email, password: 'victim-password' })).status).toBe(202);
    const victimMail = await mailbox.waitForNth(email, 1);
    expect((await signup({ username: attackerName, email, password: 'attacker-password' })).status).toBe(202);
    const attackerMail = await mailbox.waitForNth(email, 2);
    // Each mail names the username it confirms.
    expect(victimMail.text).toContain(victimName);
    expect(victimMail.text).not.toContain(attackerName);
    expect(attackerMail.text).toContain(attackerName);

    const verified = await post(VERIFY, { email, token: extractCode(victimMail.text) });
    expect(verified.status).toBe(200);
    const [user] = await db.query<{ username: string }[]>(`SELECT username FROM users WHERE email = $1`, [email]);
    expect(user!.username).toBe(victimName);
    expect((await post(LOGIN, { email, password: 'victim-password' })).status).toBe(200);
    expectProblem(await post(LOGIN, { email, password: 'attacker-password' }), 401, 'invalid_credentials');
    // The other signup of that address died with the confirmation.
    expectProblem(await post(VERIFY, { email, token: extractCode(attackerMail.text) }), 401, 'invalid_otp');
  });

  it('nobody can have a second code for the same username mailed to a pending address, with a password of their own', async () => {
    // The attacker knows the victim's username and address (a 409 on the username tells it is pending).
    const email = `${uniqueName('victim')}@example.test`;
    const username = uniqueName('victim');
    expect((await signup({ username, email, password: 'victim-password' })).status).toBe(202);
    const victimMail = await mailbox.waitForNth(email, 1);
    expectProblem(await signup({ username, email, password: 'attacker-password' }), 409, 'username_taken');
    expectProblem(
      await signup({ username: username.toUpperCase(), email: email.toUpperCase(), password: 'attacker-password' }),
      409,
      'username_taken',
    );
    const [held] = await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM pending_signups WHERE email = $1`, [email]);
    expect(held!.n).toBe(1);

    expect((await post(VERIFY, { email, token: extractCode(victimMail.text) })).status).toBe(200);
    expect((await post(LOGIN, { email, password: 'victim-password' })).status).toBe(200);
    expectProblem(await post(LOGIN, { email, password: 'attacker-password' }), 401, 'invalid_credentials');
    expect(mailbox.mailsTo(email)).toHaveLength(1);
  });

  it('resend mails a fresh code for the newest pending signup and the old code dies', async () => {
    const u = await signupAndCode();
    expect((await post(RESEND, { email: u.email.toUpperCase() })).status).toBe(204);
    const second = await mailbox.waitForNth(u.email, 2);
    expect(second.text).toContain(u.username);
    const fresh = extractCode(second.text);
    if (fresh !== u.code) expectProblem(await post(VERIFY, { email: u.email, token: u.code }), 401, 'invalid_otp');
    expect((await post(VERIFY, { email: u.email, token: fresh })).status).toBe(200);
  });

  it('a username is taken (409) by a confirmed user or an unexpired pending signup, the same address included, case-insensitively', async () => {
    const confirmed = await signUpAndLogin(t, mailbox);
    const taken = expectProblem(await signup({ username: confirmed.username.toUpperCase() }), 409, 'username_taken', SIGNUP);
    expect(taken.detail).toBe('用户名已被占用');

    const pending = await signupAndCode();
    expectProblem(await signup({ username: pending.username.toUpperCase(), email: `other-${pending.email}` }), 409, 'username_taken');
    // The same address too (a new code comes from resend).
    expectProblem(await signup({ username: pending.username, email: pending.email }), 409, 'username_taken');
    // An expired pending signup holds nothing.
    await db.query(`UPDATE pending_signups SET code_expires_at = now() - interval '1 second' WHERE email = $1`, [pending.email]);
    expect((await signup({ username: pending.username, email: `third-${pending.email}` })).status).toBe(202);
  });

  it('a signup holds its username whatever the address, so a username probe cannot tell a confirmed address from an unknown one', async () => {
    const confirmed = await signUpAndLogin(t, mailbox);
    const unknownEmail = `${uniqueName('unknown')}@example.test`;
    // The probe: sign up a fresh name with the victim's address, then claim that name with one's own.
    const answers = [];
    for (const victim of [confirmed.user.email, unknownEmail]) {
      const name = uniqueName('probe');
      expect((await signup({ username: name, email: victim, password: 'probe-password' })).status).toBe(202);
      const claim = await signup({ username: name.toUpperCase(), email: `${uniqueName('mine')}@example.test` });
      answers.push({ status: claim.status, code: (claim.body as { code?: unknown }).code });
    }
    expect(answers).toEqual([
      { status: 409, code: 'username_taken' },
      { status: 409, code: 'username_taken' },
    ]);

    // The confirmed address got the notice, never a code; its held signup is the probe password's argon2id hash.
    const notice = await mailbox.waitForNth(confirmed.user.email, 2);
    expect(notice.text).toContain('有人尝试使用您的邮箱注册');
    expect(notice.text).not.toMatch(/(?<![0-9])[0-9]{6}(?![0-9])/);
    const held = await db.query<{ password_hash: string }[]>(
      `SELECT password_hash FROM pending_signups WHERE email = $1 AND consumed_at IS NULL`,
      [confirmed.user.email],
    );
    expect(held).toHaveLength(1);
    expect(held[0]!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);

    // Resend queues no code for it (nothing at all, as for an unknown address), nothing confirms it, and the account is unchanged.
    const queued = async (): Promise<number> =>
      (await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM mail_outbox WHERE "to" = $1`, [confirmed.user.email]))[0]!.n;
    const before = await queued();
    expect((await post(RESEND, { email: confirmed.user.email })).status).toBe(204);
    expect(await queued()).toBe(before);
    expectProblem(await post(VERIFY, { email: confirmed.user.email, token: '000000' }), 401, 'invalid_otp');
    expect((await post(LOGIN, { email: confirmed.user.email, password: confirmed.password })).status).toBe(200);
  });

  it('50 parallel signups for one username: exactly one wins', async () => {
    const username = uniqueName('race');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        signup({ username: i % 2 ? username : username.toUpperCase(), email: `${username}-${i}@example.test` }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s !== 202 && s !== 409)).toEqual([]);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    const [row] = await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM pending_signups WHERE lower(username) = lower($1)`, [
      username,
    ]);
    expect(row!.n).toBe(1);
  });

  it('signup and resend answer alike for unknown, pending and confirmed addresses; a confirmed one gets a notice, not a code', async () => {
    const confirmed = await signUpAndLogin(t, mailbox);
    const pending = await signupAndCode();
    const unknownEmail = `${uniqueName('new')}@example.test`;

    const answers = [];
    for (const email of [unknownEmail, pending.email, confirmed.user.email]) {
      const res = await signup({ email });
      answers.push({ status: res.status, body: res.body, type: res.headers.get('content-type') });
    }
    expect(answers).toEqual(Array(3).fill({ status: 202, body: expect.any(Object), type: expect.stringMatching(/^application\/json/) }));
    expect(answers.map((a) => Object.keys(a.body as object))).toEqual([['email'], ['email'], ['email']]);

    const notice = await mailbox.waitForNth(confirmed.user.email, 2);
    expect(notice.text).toContain('有人尝试使用您的邮箱注册');
    expect(notice.text).not.toMatch(/(?<![0-9])[0-9]{6}(?![0-9])/);

    const resends = [];
    for (const email of [`${uniqueName('none')}@example.test`, `${uniqueName('p')}@example.test`, confirmed.user.email]) {
      const res = await post(RESEND, { email });
      resends.push({ status: res.status, text: res.text });
    }
    expect(resends).toEqual(Array(3).fill({ status: 204, text: '' }));
  });

  it('per address: at most 5 mails per hour whatever its state (429 with Retry-After)', async () => {
    const confirmed = await signUpAndLogin(t, mailbox); // 1 mail spent
    const pending = await signupAndCode(); // 1 mail spent
    const unknown = `${uniqueName('nobody')}@example.test`;
    for (const [email, spent] of [
      [unknown, 0],
      [pending.email, 1],
      [confirmed.user.email, 1],
    ] as const) {
      for (let i = spent; i < 5; i++) expect((await post(RESEND, { email })).status).toBe(204);
      const limited = expectProblem(await post(RESEND, { email }), 429, 'rate_limited', RESEND);
      expect(limited.detail).toBe('请求过于频繁');
      const retryAfter = Number((await post(RESEND, { email })).headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(3000);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      expectProblem(await signup({ email }), 429, 'rate_limited', SIGNUP);
    }
  });

  it('per IP: 30 requests per 5 minutes on signup and resend together, 30 on verify, 30 on login; 150 on refresh', async () => {
    const REFRESH = '/api/v1/auth/sessions/refresh';
    // One row of CONTRACT.md's table each: [the routes sharing a budget, the budget].
    const rows: [string[], number][] = [
      [[SIGNUP, RESEND], 30],
      [[VERIFY], 30],
      [[LOGIN], 30],
      [[REFRESH], 150],
    ];
    for (const [paths, limit] of rows) {
      const ip = randomIp();
      // Invalid bodies: the limit is checked before validation, so these count without doing any work.
      for (let i = 0; i < limit; i++) expect((await post(paths[i % paths.length]!, {}, { 'x-forwarded-for': ip })).status).toBe(422);
      for (const path of paths) {
        const limited = await post(path, {}, { 'x-forwarded-for': ip });
        expectProblem(limited, 429, 'rate_limited', path);
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(200);
        expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(300);
        // Another client is unaffected.
        expect((await post(path, {})).status).toBe(422);
      }
      // The other rows' budgets are this client's own still.
      for (const [others] of rows.filter(([p]) => p !== paths))
        expect((await post(others[0]!, {}, { 'x-forwarded-for': ip })).status).toBe(422);
    }
  });

  async function signupAndCode(): Promise<{ username: string; email: string; code: string }> {
    const username = uniqueName();
    const email = `${username}@example.test`;
    const before = mailbox.mailsTo(email).length;
    expect((await signup({ username, email })).status).toBe(202);
    const mail = await mailbox.waitForNth(email, before + 1);
    return { username, email, code: extractCode(mail.text) };
  }
});

describe('auth: one mail per 60 s per address', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true' }));
  });
  afterAll(() => stopMailedApp(t, mailbox));

  it('a second mail within 60 s is 429 with Retry-After, for unknown and pending addresses alike', async () => {
    const headers = () => ({ 'x-forwarded-for': randomIp() });
    const username = uniqueName();
    const pendingEmail = `${username}@example.test`;
    expect(
      (await request(t.url, 'POST', SIGNUP, { body: { username, email: pendingEmail, password: 'secret1' }, headers: headers() })).status,
    ).toBe(202);
    const unknown = `${uniqueName('nobody')}@example.test`;
    expect((await request(t.url, 'POST', RESEND, { body: { email: unknown }, headers: headers() })).status).toBe(204);
    for (const email of [pendingEmail, unknown]) {
      const res = await request(t.url, 'POST', RESEND, { body: { email }, headers: headers() });
      expectProblem(res, 429, 'rate_limited', RESEND);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(50);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Only the one code mail was queued (nothing for the unknown address), and it went out.
    const queued = await t.app
      .get(DataSource)
      .query<{ to: string }[]>(`SELECT "to" FROM mail_outbox WHERE "to" IN ($1, $2)`, [pendingEmail, unknown]);
    expect(queued).toEqual([{ to: pendingEmail }]);
    await eventually(() => mailbox.mailsTo(pendingEmail).length === 1);
  });
});

/** A 6-digit code different from `code`. */
function otherCode(code: string, salt = 0): string {
  return String((Number(code) + 1 + salt) % 1_000_000).padStart(6, '0');
}
