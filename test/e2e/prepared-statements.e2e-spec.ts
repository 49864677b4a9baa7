import { DataSource } from 'typeorm';
import { randomIp, signUpAndLogin } from './support/auth';
import { request } from './support/http';
import type { Mailbox } from './support/mailbox';
import { startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

// Argon2 on signup and login is slow on a shared 2-core machine.
jest.setTimeout(60_000);

/**
 * The hot statements (common/database/prepared-statement.ts) are prepared on the connection, not
 * parsed and planned again per request. With a pool of one connection every request runs on the
 * connection this test then asks: `pg_prepared_statements` lists what that session has prepared.
 */
describe('hot statements are prepared once per connection', () => {
  let mailbox: Mailbox;
  let t: TestApp;

  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true', DB_POOL_SIZE: '1' }));
  });
  afterAll(() => stopMailedApp(t, mailbox));

  const prepared = async (): Promise<string[]> => {
    const rows = await t.app
      .get(DataSource)
      .query<{ statement: string }[]>(`SELECT statement FROM pg_prepared_statements WHERE name LIKE 'rt\\_%'`);
    return rows.map((r) => r.statement);
  };

  it('login, refresh, the profile reads and agent runs (first and follow-up) run named statements, and run them again without re-preparing', async () => {
    const u = await signUpAndLogin(t, mailbox);
    const headers = { 'x-forwarded-for': randomIp() };
    const login = await request<{ access_token: string; refresh_token: string }>(t.url, 'POST', '/api/v1/auth/sessions', {
      body: { email: u.user.email, password: u.password },
      headers,
    });
    expect(login.status).toBe(200);
    let refreshToken = login.body.refresh_token;
    for (let i = 0; i < 3; i++) {
      const refreshed = await request<{ refresh_token: string }>(t.url, 'POST', '/api/v1/auth/sessions/refresh', {
        body: { refresh_token: refreshToken },
        headers,
      });
      expect(refreshed.status).toBe(200);
      refreshToken = refreshed.body.refresh_token;
      const auth = { authorization: `Bearer ${login.body.access_token}` };
      expect((await request(t.url, 'GET', '/api/v1/users/me', { headers: auth })).status).toBe(200);
      expect((await request(t.url, 'GET', `/api/v1/users/${u.username.toUpperCase()}`, { headers: auth })).status).toBe(200);
      // An agent run in a new session (the offline model), then one continuing it.
      const run = await request<{ output: string; session_id: string }>(t.url, 'POST', '/api/v1/agent-chats', {
        headers: auth,
        body: { message: 'hello' },
      });
      expect(run.status).toBe(200);
      expect(run.body.output).toContain('hello');
      const followUp = await request(t.url, 'POST', '/api/v1/agent-chats', {
        headers: auth,
        body: { message: 'hello again', session_id: run.body.session_id },
      });
      expect(followUp.status).toBe(200);
    }

    const statements = await prepared();
    for (const fragment of [
      'INSERT INTO auth_sessions', // login (and verify) open their session
      'WITH rotated AS', // refresh
      'FROM users WHERE email = $1', // login reads the user
      'ORDER BY created_at DESC LIMIT 1', // and the address's newest pending signup
      'FROM users WHERE id = ANY($1::uuid[])', // GET /users/me
      'FROM users WHERE lower(username) = ANY($1::text[])', // GET /users/{username}
      'WITH cfg AS', // an agent run in a new session opens (session, run and message)
      'FROM agent_chat_open_run(', // one in an existing session opens (lock, run, message, history)
      'INSERT INTO agent_chat_run_events', // every run finishes
    ]) {
      expect(statements.filter((s) => s.includes(fragment))).toHaveLength(1);
    }
  });
});
