import { randomBytes } from 'node:crypto';
import { randomIp, uniqueName } from '../e2e/support/auth';
import { expectProblem, request } from '../e2e/support/http';
import { extractCode, startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { dropFileDatabase, query, useFileDatabase } from './support/db';
import { ip, me, refresh, signUp, signUpMany, type Tokens } from './support/flows';
import { launchServer, unexpectedErrors, type Server } from './support/server';

/** Concurrent requests that must not both win, against the real server. */
describe('races', () => {
  useFileDatabase('races');
  let mailbox: Mailbox;
  let server: Server;

  beforeAll(async () => {
    mailbox = await startMailbox();
    server = await launchServer({ SMTP_URL: mailbox.smtpUrl, MAIL_POLL_INTERVAL_MS: '200', AGENT_RUNS_PER_MINUTE: '100000' });
  });

  afterAll(async () => {
    await server?.stop();
    await mailbox?.stop();
    await dropFileDatabase(); // after the server: dropping it ends every connection to it
  });

  afterEach(() => expect(unexpectedErrors(server)).toEqual([]));

  it('50 parallel signups for one username: one pending winner, the rest 409 username_taken', async () => {
    const username = uniqueName('race');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        request(server.url, 'POST', '/api/v1/auth/verifications', {
          body: { username, email: `${username}_${i}@example.test`, password: 'secret-123' },
          headers: ip(randomIp()),
        }),
      ),
    );
    const outcomes: Record<string, number> = {};
    for (const r of results) {
      const key = `${r.status} ${(r.body as { code?: string } | undefined)?.code ?? ''}`.trim();
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    expect(outcomes).toEqual({ '202': 1, '409 username_taken': 49 });
    for (const r of results.filter((r) => r.status !== 202)) expectProblem(r, 409, 'username_taken');
    const rows = await query<{ n: string }>(`SELECT count(*) AS n FROM pending_signups WHERE lower(username) = lower($1)`, [username]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('20 parallel refreshes of one token: one replacement for all, the session never forks', async () => {
    const account = await signUp(server.url, mailbox);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(server.url, account.refresh_token)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const replacements = new Set(results.map((r) => r.body.refresh_token));
    expect(replacements.size).toBe(1);
    const [replacement] = [...replacements];
    const sessions = await query<{ id: string; revoked_at: Date | null }>(`SELECT id, revoked_at FROM auth_sessions WHERE user_id = $1`, [
      account.user.id,
    ]);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.revoked_at).toBeNull();
    // The one replacement carries the session on; the access tokens issued alongside all work.
    expect((await me(server.url, results[0]!.body.access_token)).status).toBe(200);
    const next = await refresh(server.url, replacement!);
    expect(next.status).toBe(200);
    expect((await me(server.url, next.body.access_token)).status).toBe(200);
  });

  it('2 parallel verifies of one code: one session opened, the other refused', async () => {
    const username = uniqueName('verify');
    const email = `${username}@example.test`;
    const client = randomIp();
    expect(
      (
        await request(server.url, 'POST', '/api/v1/auth/verifications', {
          body: { username, email, password: 'secret-123' },
          headers: ip(client),
        })
      ).status,
    ).toBe(202);
    const code = extractCode((await mailbox.waitForNth(email, 1)).text);
    const results = await Promise.all(
      [0, 1].map(() =>
        request<Tokens>(server.url, 'POST', '/api/v1/auth/verifications/verify', { body: { email, token: code }, headers: ip(randomIp()) }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    expectProblem(
      results.find((r) => r.status === 401)!,
      401,
      'invalid_otp',
    );
    const users = await query<{ id: string }>(`SELECT id FROM users WHERE email = $1`, [email]);
    expect(users).toHaveLength(1);
    expect(await query(`SELECT id FROM auth_sessions WHERE user_id = $1`, [users[0]!.id])).toHaveLength(1);
  });

  it('parallel renames to one username: one 200, the rest 409 username_taken', async () => {
    const accounts = await signUpMany(server.url, mailbox, 8);
    const target = uniqueName('taken');
    const results = await Promise.all(
      accounts.map((a) =>
        request(server.url, 'PATCH', '/api/v1/users/me', { token: a.access_token, body: { username: target }, headers: ip(a.ip) }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 200)) expectProblem(r, 409, 'username_taken');
    const holders = await query(`SELECT id FROM users WHERE lower(username) = lower($1)`, [target]);
    expect(holders).toHaveLength(1);
  });

  it('two parallel runs in one agent session: one 409 run_in_progress, never two runs at once', async () => {
    const account = await signUp(server.url, mailbox);
    const run = (sessionId?: string) =>
      request<{ session_id: string }>(server.url, 'POST', '/api/v1/agent-chats', {
        token: account.access_token,
        body: {
          message: `What is (12 + 30) * 2? And what time is it? ${randomBytes(2).toString('hex')}`,
          ...(sessionId ? { session_id: sessionId } : {}),
        },
        headers: ip(account.ip),
      });
    const first = await run();
    expect(first.status).toBe(200);
    const sessionId = first.body.session_id;
    let conflicts = 0;
    // The offline model is quick, so a pair may also run one after the other; a few rounds make
    // the overlap (and its 409) certain in practice, and every round must be 200/409 only.
    for (let round = 0; round < 10 && conflicts === 0; round++) {
      const pair = await Promise.all([run(sessionId), run(sessionId)]);
      expect(pair.map((r) => r.status).every((s) => s === 200 || s === 409)).toBe(true);
      for (const r of pair.filter((r) => r.status === 409)) expectProblem(r, 409, 'run_in_progress');
      conflicts += pair.filter((r) => r.status === 409).length;
    }
    expect(conflicts).toBeGreaterThan(0);
    // Never two runs of one session at the same time.
    const overlaps = await query(
      `SELECT a.id FROM agent_chat_runs a JOIN agent_chat_runs b ON a.session_id = b.session_id AND a.id < b.id
        WHERE a.session_id = $1 AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)`,
      [sessionId],
    );
    expect(overlaps).toEqual([]);
    expect(await query(`SELECT id FROM agent_chat_runs WHERE session_id = $1 AND status = 'running'`, [sessionId])).toEqual([]);
  });
});
