import { Client } from 'pg';
import { expectProblem, request, type ApiResponse } from '../e2e/support/http';
import { startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { ip, logout, me, refresh, signUp, type Account } from './support/flows';
import { decodeJwt, forgeJwt } from './support/jwt';
import { currentDatabase, dropFileDatabase, useFileDatabase } from './support/db';
import { loadConfig } from '../../src/common/config';
import { runCli } from '../../src/cli';
import { JWT_SECRET, baseEnv, launchServer, unexpectedErrors, type Server } from './support/server';

/** Every forged, stale or misused token is refused with 401 problem+json by the real server. */
describe('token attacks', () => {
  useFileDatabase('tokens');
  let mailbox: Mailbox;
  let server: Server;
  let account: Account;

  beforeAll(async () => {
    mailbox = await startMailbox();
    server = await launchServer({ SMTP_URL: mailbox.smtpUrl, MAIL_POLL_INTERVAL_MS: '200' });
    account = await signUp(server.url, mailbox);
  });

  afterAll(async () => {
    await server?.stop();
    await mailbox?.stop();
    await dropFileDatabase(); // after the server: dropping it ends every connection to it
  });

  afterEach(() => expect(unexpectedErrors(server)).toEqual([]));

  const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    return { ...decodeJwt(account.access_token).payload, iat: now, exp: now + 3600, ...overrides };
  };
  const expect401 = (res: ApiResponse, code = 'invalid_token'): void => {
    expectProblem(res, 401, code);
  };

  it('accepts the genuine token (so the refusals below are about the forgery)', async () => {
    expect((await me(server.url, account.access_token)).status).toBe(200);
    // A token forged with the server's own key and the genuine claims passes: the forge is faithful.
    expect((await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), JWT_SECRET))).status).toBe(200);
  });

  it('refuses alg "none" (any spelling) and algorithm confusion', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      expect401(await me(server.url, forgeJwt({ alg, typ: 'JWT' }, claims(), undefined)));
    }
    // The right key under another HMAC algorithm, and an RS256 header over an HMAC signature.
    expect401(await me(server.url, forgeJwt({ alg: 'HS512', typ: 'JWT' }, claims(), JWT_SECRET)));
    const hs = forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), JWT_SECRET).split('.');
    const rs = forgeJwt({ alg: 'RS256', typ: 'JWT' }, claims(), undefined).split('.');
    expect401(await me(server.url, `${rs[0]}.${rs[1]}.${hs[2]}`));
  });

  it('refuses a token signed with another key', async () => {
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), 'another-secret-that-is-long-enough-0123456789')));
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims(), '')));
  });

  it('refuses a tampered payload (the genuine signature over other claims)', async () => {
    const [header, , signature] = account.access_token.split('.');
    for (const overrides of [
      { role: 'admin' },
      { sub: '00000000-0000-4000-8000-000000000000' },
      { exp: (claims().exp as number) + 86_400 },
    ]) {
      const payload = Buffer.from(JSON.stringify({ ...decodeJwt(account.access_token).payload, ...overrides })).toString('base64url');
      expect401(await me(server.url, `${header}.${payload}.${signature}`));
    }
    // Admin-only route with a tampered role claim: 401 (bad signature), never 200.
    const payload = Buffer.from(JSON.stringify({ ...decodeJwt(account.access_token).payload, role: 'admin' })).toString('base64url');
    expect401(
      await request(server.url, 'GET', `/api/v1/auth/users?email=${encodeURIComponent(account.email)}`, {
        token: `${header}.${payload}.${signature}`,
        headers: ip(),
      }),
    );
  });

  it('refuses expired tokens, a wrong issuer or audience, missing or malformed claims and garbage headers', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims({ iat: now - 7200, exp: now - 3600 }), JWT_SECRET)));
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims({ iss: 'someone-else' }), JWT_SECRET)));
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims({ aud: 'another-app' }), JWT_SECRET)));
    for (const missing of ['sub', 'sid', 'role']) {
      expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims({ [missing]: undefined }), JWT_SECRET)));
    }
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims({ role: 'root' }), JWT_SECRET)));
    expect401(await me(server.url, forgeJwt({ alg: 'HS256', typ: 'JWT' }, claims({ sub: 42 }), JWT_SECRET)));
    // Garbage in the Authorization header.
    for (const value of [
      'Bearer',
      'Bearer ',
      'Bearer a.b.c',
      'Basic dXNlcjpwYXNz',
      `Bearer ${account.access_token}x`,
      `bearer  ${'A'.repeat(8000)}`,
    ]) {
      const res = await request(server.url, 'GET', '/api/v1/users/me', { headers: { authorization: value, ...ip() } });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
  });

  it('refuses the access token of a revoked session at once, and its refresh token', async () => {
    const session = await signUp(server.url, mailbox);
    expect((await me(server.url, session.access_token)).status).toBe(200);
    expect((await logout(server.url, session.refresh_token)).status).toBe(204);
    expect401(await me(server.url, session.access_token));
    expect401(await refresh(server.url, session.refresh_token), 'invalid_refresh_token');
  });

  it('refuses an access token presented as a refresh token, and the reverse', async () => {
    const session = await signUp(server.url, mailbox);
    expect401(await refresh(server.url, session.access_token), 'invalid_refresh_token');
    expect401(await me(server.url, session.refresh_token));
    // Neither misuse cost the session anything.
    expect((await me(server.url, session.access_token)).status).toBe(200);
    expect((await refresh(server.url, session.refresh_token)).status).toBe(200);
  });

  it('refuses the tokens of a deleted user (deleted with the admin CLI)', async () => {
    const doomed = await signUp(server.url, mailbox);
    expect((await me(server.url, doomed.access_token)).status).toBe(200);
    // The guard never reads the users table (no database round trip per request): deleting a user
    // goes through `npm run cli -- delete-user`, which revokes the sessions in Redis first.
    const lines: string[] = [];
    const code = await runCli(
      ['delete-user', doomed.user.email],
      loadConfig(baseEnv()),
      { write: (l) => lines.push(l) },
      { write: (l) => lines.push(l) },
    );
    expect({ code, lines }).toEqual({ code: 0, lines: [`${doomed.user.email}: deleted; 1 session(s) closed\n`] });
    const db = new Client({ connectionString: currentDatabase() });
    await db.connect();
    try {
      expect((await db.query('SELECT 1 FROM users WHERE id = $1', [doomed.user.id])).rowCount).toBe(0);
    } finally {
      await db.end();
    }
    // The refresh token died with its session (ON DELETE CASCADE).
    expect401(await refresh(server.url, doomed.refresh_token), 'invalid_refresh_token');
    // Every protected route refuses the access token: 401, never a 2xx, never a 5xx.
    const routes: [string, string, unknown][] = [
      ['GET', '/api/v1/users/me', undefined],
      ['PATCH', '/api/v1/users/me', { bio: 'ghost' }],
      ['GET', `/api/v1/users/${account.username}`, undefined],
    ];
    const outcomes = await Promise.all(
      routes.map(async ([method, path, body]) => ({
        method,
        path,
        status: (await request(server.url, method, path, { token: doomed.access_token, body, headers: ip() })).status,
      })),
    );
    expect(outcomes).toEqual(routes.map(([method, path]) => ({ method, path, status: 401 })));
  });
});
