import { createServer, type AddressInfo, type Socket } from 'node:net';
import { eventually, request } from './support/http';
import { freePort, spawnEnv, startServer } from './support/server-process';

/** Start-up and shutdown of the real process (src/main.ts), as an orchestrator sees them. */
describe('process lifecycle', () => {
  const runEnv = spawnEnv();

  it('refuses to start in production without required settings: one clear line each, exit 1', async () => {
    const server = startServer({ ...runEnv, NODE_ENV: 'production', SMTP_URL: 'smtp://127.0.0.1:2525', LLM_PROVIDER: 'offline' });
    expect(await server.exited).toBe(1);
    expect(server.stderr().trim().split('\n')).toEqual([
      'config error: JWT_SECRET is required in production (at least 32 random characters)',
    ]);
  });

  it('refuses to start when PostgreSQL cannot be used: one clear line on stderr, nothing on stdout, exit 1', async () => {
    const missing = new URL(process.env.DATABASE_URL!);
    missing.pathname = `${missing.pathname}_missing`; // production never creates its database
    const server = startServer({
      ...runEnv,
      NODE_ENV: 'production',
      JWT_SECRET: 'p'.repeat(48),
      SMTP_URL: 'smtp://127.0.0.1:2525',
      DATABASE_URL: missing.toString(),
    });
    expect(await server.exited).toBe(1);
    expect(server.stderr().trim().split('\n')).toEqual([`fatal: start-up failed: database "${missing.pathname.slice(1)}" does not exist`]);
    expect(server.stdout()).toBe('');
  });

  it('on SIGTERM during start-up (PostgreSQL not answering yet) exits 0 at once, with one line saying so', async () => {
    // A PostgreSQL that accepts connections and never answers: the start-up waits on it.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const database = new URL(process.env.DATABASE_URL!);
    database.port = String((silent.address() as AddressInfo).port);
    const server = startServer({
      ...runEnv,
      NODE_ENV: 'production',
      JWT_SECRET: 'p'.repeat(48),
      SMTP_URL: 'smtp://127.0.0.1:2525',
      DATABASE_URL: database.toString(),
    });
    try {
      await eventually(() => sockets.length > 0, 30_000, 20);
      // Without a handler Node dies of the signal here, and a container's PID 1 ignores it.
      server.child.kill('SIGTERM');
      const code = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 1_500).unref())]);
      expect({ code, stderr: server.stderr().trim() }).toEqual({ code: 0, stderr: 'SIGTERM received during start-up: exiting' });
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('starts in production with the required settings, serves health, and on SIGTERM finishes in-flight requests and exits 0', async () => {
    const port = await freePort();
    // CONTRACT.md's required settings only: no LLM_PROVIDER (the agent then answers 503).
    const server = startServer({ ...runEnv, NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(48), SMTP_URL: 'smtp://127.0.0.1:2525' }, port);
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);
      expect((await request(url, 'GET', '/api/v1/infra/health')).status).toBe(200);
      // Said once at start-up, where an operator looks.
      const unconfigured = server
        .stdout()
        .split('\n')
        .filter((l) => l.includes('agent.model_unconfigured'));
      expect(unconfigured).toHaveLength(1);
      expect(JSON.parse(unconfigured[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('503 model_unavailable') });

      const inFlight = Array.from({ length: 50 }, () =>
        request(url, 'GET', '/api/v1/infra/health').then(
          (r) => r.status,
          () => 'closed' as const,
        ),
      );
      const signalledAt = Date.now();
      server.child.kill('SIGTERM');
      const outcomes = await Promise.all(inFlight);
      // Each request either completed or its connection closed before any work; never a 5xx.
      expect(outcomes.filter((o) => o !== 200 && o !== 'closed')).toEqual([]);
      expect(await server.exited).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(10_000);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  });

  it('starts with Redis unreachable, readiness 503; one structured warning about it, no raw ioredis lines on stderr', async () => {
    const port = await freePort();
    const server = startServer({ ...runEnv, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, port);
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);
      // Start-up alone takes seconds: several reconnection attempts (100, 200, 300 … ms apart) have failed by now.
      for (let i = 0; i < 3; i++) {
        expect((await request(url, 'GET', '/api/v1/infra/health')).status).toBe(503);
        await eventually(() => server.stdout().includes('redis.connection_lost'), 5_000, 50);
      }
      server.child.kill('SIGTERM');
      await server.exited;
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
    expect(server.stderr()).not.toContain('ioredis');
    const lost = server
      .stdout()
      .split('\n')
      .filter((l) => l.includes('redis.connection_lost'));
    expect(lost).toHaveLength(1);
    expect(JSON.parse(lost[0]!)).toMatchObject({ level: 40, event: 'redis.connection_lost' });
  });

  it('writes one JSON access line per request (request id, path without query, status), none for probes, all flushed at exit', async () => {
    const port = await freePort();
    const server = startServer({ ...runEnv, LOG_LEVEL: 'info', LLM_PROVIDER: 'offline' }, port);
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);
      const res = await request(url, 'GET', '/api/v1/users/me?email=someone%40example.test', {
        headers: { authorization: 'Bearer not-a-token', 'x-request-id': 'req-access-1' },
      });
      expect(res.status).toBe(401);
      // A lone line is written within about a second: no waiting for a batch to fill, or for exit.
      await eventually(() => server.stdout().includes('"request_id":"req-access-1"'), 5_000, 50);
      expect((await request(url, 'GET', `/api/v1/${'a'.repeat(3000)}`)).status).toBe(404);
      // Answered by the router, before any route's hooks: logged all the same.
      const badEncoding = await request(url, 'GET', '/api/v1/users/%E0%A4%A', { headers: { 'x-request-id': 'req-router-1' } });
      expect(badEncoding.status).toBe(400);
      const longParam = await request(url, 'GET', `/api/v1/users/${'b'.repeat(2049)}`, { headers: { 'x-request-id': 'req-router-2' } });
      expect(longParam.status).toBe(414);
      for (let i = 0; i < 200; i++) expect((await request(url, 'GET', '/api/v1/users/nobody_here')).status).toBe(401);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
    const lines = server
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) => JSON.parse(l) as { msg?: string; request_id?: string; req?: { method: string; url: string }; res?: { statusCode: number } },
      );
    // One start-up line says the process is serving, and on which port.
    expect(lines.filter((l) => (l as { event?: string }).event === 'http.listening')).toEqual([
      expect.objectContaining({ msg: 'listening', port, node: process.version }),
    ]);
    const access = lines.filter((l) => l.msg === 'request completed');
    expect(access.find((l) => l.request_id === 'req-access-1')).toEqual(
      expect.objectContaining({
        req: { method: 'GET', url: '/api/v1/users/me' },
        res: { statusCode: 401 },
        responseTime: expect.any(Number),
      }),
    );
    // Every request written, none lost to the asynchronous log destination at exit; no probe lines.
    expect(access.filter((l) => l.req?.url === '/api/v1/users/nobody_here')).toHaveLength(200);
    expect(access.filter((l) => l.req?.url.includes('health'))).toEqual([]);
    expect(access.filter((l) => l.request_id === 'req-router-1' || l.request_id === 'req-router-2')).toEqual([
      expect.objectContaining({ req: { method: 'GET', url: '/api/v1/users/%E0%A4%A' }, res: { statusCode: 400 } }),
      expect.objectContaining({
        req: { method: 'GET', url: `/api/v1/users/${'b'.repeat(2049)}`.slice(0, 1024) + '...' },
        res: { statusCode: 414 },
      }),
    ]);
    // A long path is cut in the line.
    expect(access.find((l) => l.req?.url.startsWith('/api/v1/aaaa'))?.req?.url).toBe(`/api/v1/${'a'.repeat(1016)}...`);
    expect(server.stdout()).not.toContain('not-a-token');
    expect(server.stdout()).not.toContain('someone');
  });
});
