import { eventually, expectProblem, request } from '../e2e/support/http';
import { startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { randomIp } from '../e2e/support/auth';
import { ip, login, logout, me, signUp, type Account } from './support/flows';
import { startLoad, summarize } from './support/load';
import { ThrowawayRedis } from './support/redis-server';
import { dropFileDatabase, useFileDatabase } from './support/db';
import { launchServer, unexpectedErrors, type Server } from './support/server';

/**
 * Redis goes away under load and comes back on the same port. The server must notice quickly,
 * refuse what needs Redis with a 503 (never let a token through unchecked), stay up, and recover
 * by itself.
 */
describe('Redis outage', () => {
  useFileDatabase('redis');
  let redis: ThrowawayRedis;
  let mailbox: Mailbox;
  let server: Server;
  let account: Account;

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    mailbox = await startMailbox();
    server = await launchServer({ REDIS_URL: redis.url, SMTP_URL: mailbox.smtpUrl, MAIL_POLL_INTERVAL_MS: '200' });
    account = await signUp(server.url, mailbox);
  });

  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
    await mailbox?.stop();
    await dropFileDatabase(); // after the server: dropping it ends every connection to it
  });

  it('under load: readiness 503 within 2 s, Redis-backed routes 503 dependency_unavailable fast and fail closed, no crash; recovers within 5 s without a restart', async () => {
    expect((await me(server.url, account.access_token)).status).toBe(200);
    expect((await request(server.url, 'GET', '/api/v1/infra/health')).status).toBe(200);
    // A session closed before the outage (and before the load's wrong-password logins put the
    // account into login backoff). The throwaway Redis keeps nothing on disk, so this revocation
    // is gone after the restart and must come back from PostgreSQL.
    const closedLogin = await login(server.url, { ...account, ip: randomIp() });
    expect(closedLogin.status).toBe(200);
    const closed = closedLogin.body;
    expect((await logout(server.url, closed.refresh_token)).status).toBe(204);
    expectProblem(await me(server.url, closed.access_token), 401, 'invalid_token');

    const load = startLoad(
      {
        me: (signal) =>
          fetch(`${server.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${account.access_token}`, ...ip() }, signal }),
        login: (signal) =>
          fetch(`${server.url}/api/v1/auth/sessions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...ip() },
            body: JSON.stringify({ email: account.email, password: 'wrong-password' }),
            signal,
          }),
        readiness: (signal) => fetch(`${server.url}/api/v1/infra/health`, { signal }),
        liveness: (signal) => fetch(`${server.url}/api/v1/health`, { signal }),
      },
      8,
    );
    await eventually(() => load.samples.length > 40, 10_000);

    await redis.stop();
    const downAt = Date.now();
    await eventually(async () => (await request(server.url, 'GET', '/api/v1/infra/health')).status === 503, 2000, 20);
    const noticedMs = Date.now() - downAt;

    // The routes that need Redis answer problem+json 503, not a hang and not a pass.
    const started = Date.now();
    const protectedRes = await me(server.url, account.access_token);
    const protectedMs = Date.now() - started;
    expectProblem(protectedRes, 503, 'dependency_unavailable', '/api/v1/users/me');
    expect(Number(protectedRes.headers.get('retry-after'))).toBeGreaterThan(0);
    expectProblem(await login(server.url, { ...account, ip: randomIp() }), 503, 'dependency_unavailable', '/api/v1/auth/sessions');
    const readiness = await request<{ status: string; services: Record<string, { status: string }> }>(
      server.url,
      'GET',
      '/api/v1/infra/health',
    );
    expect(readiness.body).toEqual(
      expect.objectContaining({
        status: 'unhealthy',
        services: expect.objectContaining({
          redis: expect.objectContaining({ status: 'unhealthy' }),
          postgres: expect.objectContaining({ status: 'healthy' }),
        }),
      }),
    );
    expect((await request(server.url, 'GET', '/api/v1/health')).status).toBe(200);

    // While the client waits to reconnect, a request is refused before any command is queued: it
    // does not wait for the next attempt, a command timeout, or (auto-pipelining) the batch ahead
    // of it. Sequential requests, the load still running beside them.
    const refusalMs: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t = Date.now();
      expectProblem(await me(server.url, account.access_token), 503, 'dependency_unavailable', '/api/v1/users/me');
      refusalMs.push(Date.now() - t);
    }
    // The median: one that starts while a reconnection attempt is under way may still queue.
    // (Before the check: 2.0 s, each batch waiting for the one ahead of it.)
    refusalMs.sort((a, b) => a - b);
    expect(refusalMs[4]).toBeLessThan(250);

    // Keep the load on for a while with Redis down.
    await eventually(
      () => ['me', 'login'].every((name) => load.samples.filter((s) => s.name === name && s.startedAt > downAt + 500).length >= 10),
      20_000,
    );
    const downUntil = Date.now();
    await redis.start();
    const upAt = Date.now();
    await eventually(
      async () =>
        (await request(server.url, 'GET', '/api/v1/infra/health')).status === 200 &&
        (await me(server.url, account.access_token)).status === 200,
      5000,
      50,
    );
    const recoveredMs = Date.now() - upAt;
    expectProblem(await me(server.url, closed.access_token), 401, 'invalid_token', '/api/v1/users/me');
    const samples = await load.stop();

    const whileDown = samples.filter((s) => s.startedAt > downAt && s.startedAt + s.ms < downUntil);
    const summary = summarize(whileDown);
    // Fail closed: with Redis dead, no token can be checked against the revocation set, so none may pass.
    expect(whileDown.filter((s) => s.name === 'me' && s.outcome === 200)).toEqual([]);
    // Never a hang, never a 500: Redis-backed routes answer 503 dependency_unavailable (problem+json).
    for (const name of ['me', 'login']) {
      const outcomes = whileDown.filter((s) => s.name === name);
      expect({
        name,
        bad: outcomes.filter(
          (s) => !(s.outcome === 503 && s.code === 'dependency_unavailable' && /problem\+json/.test(s.contentType ?? '')),
        ).length,
        summary,
      }).toEqual({ name, bad: 0, summary });
      expect(Math.max(...outcomes.map((s) => s.ms))).toBeLessThan(3000);
    }
    expect(whileDown.filter((s) => s.name === 'liveness' && s.outcome !== 200)).toEqual([]);
    expect(whileDown.filter((s) => s.name === 'readiness' && s.outcome !== 503 && s.outcome !== 200).map((s) => s.outcome)).toEqual([]);
    expect(Math.max(...whileDown.filter((s) => s.name === 'readiness').map((s) => s.ms))).toBeLessThan(2000);
    expect(samples.filter((s) => s.outcome === 'timeout' || s.outcome === 500)).toEqual([]);

    expect(noticedMs).toBeLessThan(2000);
    expect(protectedMs).toBeLessThan(2000);
    expect(recoveredMs).toBeLessThan(5000);
    // Same process throughout: it neither crashed nor was restarted.
    expect(server.process.child.exitCode).toBeNull();
    expect(unexpectedErrors(server)).toEqual([]);
  });
});
