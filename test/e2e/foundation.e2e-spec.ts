import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { getRedisConnectionToken } from '@nestjs-modules/ioredis';
import { ThrottlerStorage } from '@nestjs/throttler';
import type { Command, default as Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { API_SECURITY_HEADERS } from '../../src/common/http/security-headers';
import { pooledRandomValuesInstalled } from '../../src/common/random/pooled-random-values';
import { PasswordHasher } from '../../src/modules/auth/password-hasher';
import { ProbeModule } from './support/probe.module';
import { createTestApp, type TestApp } from './support/test-app';
import { eventually, expectProblem, request } from './support/http';
import { createUser } from './support/users';
import { randomIp } from './support/auth';

describe('foundation: problem+json, request id, health, CORS, rate limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CORS_ORIGINS: 'https://app.example.com' }, { imports: [ProbeModule] });
  });
  afterAll(async () => {
    await t.close();
  });

  it("serves the process's small crypto.getRandomValues calls from a pool (LangChain's UUIDs)", () => {
    expect(pooledRandomValuesInstalled()).toBe(true);
  });

  describe('health', () => {
    it('liveness answers ok', async () => {
      const res = await request(t.url, 'GET', '/api/v1/health');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok' });
    });

    it('readiness reports redis and postgres as healthy', async () => {
      const res = await request(t.url, 'GET', '/api/v1/infra/health');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: 'healthy',
        services: {
          redis: { status: 'healthy', latency_ms: expect.any(Number) },
          postgres: { status: 'healthy', latency_ms: expect.any(Number) },
        },
      });
    });
  });

  describe('request id', () => {
    it('echoes a sane caller id', async () => {
      const res = await request(t.url, 'GET', '/api/v1/health', { headers: { 'x-request-id': 'client-abc.123' } });
      expect(res.headers.get('x-request-id')).toBe('client-abc.123');
    });

    it('replaces an unsafe or oversized id with a generated one', async () => {
      for (const bad of ['has space', 'x'.repeat(200), 'a\tb']) {
        const res = await request(t.url, 'GET', '/api/v1/health', { headers: { 'x-request-id': bad } });
        expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      }
    });

    it('is present on error answers too', async () => {
      const res = await request(t.url, 'GET', '/api/v1/nope');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('problem+json for every error status', () => {
    it('404 unknown route, instance without query', async () => {
      expectProblem(await request(t.url, 'GET', '/api/v1/nope?secret=1'), 404, 'route_not_found', '/api/v1/nope');
    });

    it('400 malformed JSON', async () => {
      const res = await request(t.url, 'POST', '/api/v1/__probe/echo', {
        rawBody: '{"name":',
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(res, 400, 'malformed_json', '/api/v1/__probe/echo');
    });

    it('413 body over 64 KiB', async () => {
      const res = await request(t.url, 'POST', '/api/v1/__probe/echo', {
        body: { name: 'abc', email: 'a@b.co', pad: 'x'.repeat(70 * 1024) },
      });
      expectProblem(res, 413, 'payload_too_large');
    });

    it('415 wrong content type', async () => {
      const res = await request(t.url, 'POST', '/api/v1/__probe/echo', {
        rawBody: 'name=abc',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expectProblem(res, 415, 'unsupported_media_type');
    });

    it('415 for a text/plain body, even one that is JSON', async () => {
      const res = await request(t.url, 'POST', '/api/v1/__probe/echo', {
        rawBody: '{"name":"abc","email":"a@b.co"}',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
      expectProblem(res, 415, 'unsupported_media_type', '/api/v1/__probe/echo');
    });

    it('422 with localized field errors, unknown fields rejected', async () => {
      const res = await request(t.url, 'POST', '/api/v1/__probe/echo', { body: { name: 'ab', email: 'nope', role: 'admin' } });
      const body = expectProblem(res, 422, 'validation_failed');
      expect(body.detail).toBe('请求参数无效');
      expect(body.errors).toEqual(
        expect.arrayContaining([
          { field: 'name', message: '长度须为 3 到 30 个字符' },
          { field: 'email', message: '必须是有效的邮箱地址' },
          { field: 'role', message: '不允许的字段' },
        ]),
      );
    });

    it('422 in English when Accept-Language prefers en', async () => {
      const res = await request(t.url, 'POST', '/api/v1/__probe/echo', {
        body: { name: 'ab', email: 'a@b.co' },
        headers: { 'accept-language': 'en-US,en;q=0.9,zh;q=0.5' },
      });
      const body = expectProblem(res, 422, 'validation_failed');
      expect(body.detail).toBe('The request parameters are invalid.');
      expect(body.errors).toEqual([{ field: 'name', message: 'must be 3 to 30 characters long' }]);
    });

    it('422 when the body is not an object', async () => {
      for (const rawBody of ['[]', '"text"', 'null', '42']) {
        const res = await request(t.url, 'POST', '/api/v1/__probe/echo', { rawBody, headers: { 'content-type': 'application/json' } });
        expectProblem(res, 422, 'validation_failed');
      }
    });

    it('401 with WWW-Authenticate on a protected route, zh and en', async () => {
      const zh = expectProblem(await request(t.url, 'GET', '/api/v1/__probe/private'), 401, 'unauthenticated');
      expect(zh.detail).toBe('未认证');
      const en = expectProblem(
        await request(t.url, 'GET', '/api/v1/__probe/private', { headers: { 'accept-language': 'en' } }),
        401,
        'unauthenticated',
      );
      expect(en.detail).toBe('Authentication is required.');
    });

    it('401 invalid_token for a garbage bearer token', async () => {
      expectProblem(await request(t.url, 'GET', '/api/v1/__probe/private', { token: 'not.a.jwt' }), 401, 'invalid_token');
    });

    it('409 conflict', async () => {
      expectProblem(await request(t.url, 'GET', '/api/v1/__probe/conflict'), 409, 'conflict');
    });

    it('500 generic, never leaking internals', async () => {
      const res = await request(t.url, 'GET', '/api/v1/__probe/boom', { headers: { 'accept-language': 'en' } });
      const body = expectProblem(res, 500, 'internal_error');
      expect(body.detail).toBe('An unexpected error occurred. Please try again later.');
      expect(res.text).not.toMatch(/SELECT|password_hash|users/);
    });

    it('400 for a path with broken percent-encoding; a long path parameter is validated (422), 414 only past 2048 characters', async () => {
      const user = await createUser(t);
      expectProblem(await request(t.url, 'GET', '/api/v1/users/%E0%A4%A'), 400, 'bad_request');
      for (const length of [101, 150, 2048]) {
        const res = await request(t.url, 'GET', `/api/v1/users/${'a'.repeat(length)}`, { token: user.accessToken });
        expect(expectProblem(res, 422, 'validation_failed').errors?.map((e) => e.field)).toEqual(['username']);
      }
      expectProblem(await request(t.url, 'GET', `/api/v1/users/${'a'.repeat(2049)}`, { token: user.accessToken }), 414, 'uri_too_long');
    });

    it('answers HTTP parser errors (bad header bytes, oversized headers) as problem+json on the raw socket', async () => {
      const raw = (payload: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const { port } = new URL(t.url);
          const socket = connect(Number(port), '127.0.0.1', () => socket.end(payload));
          let data = '';
          socket.on('data', (chunk) => (data += chunk.toString()));
          socket.on('close', () => resolve(data));
          socket.on('error', reject);
        });
      const headerOf = (response: string, name: string): string | undefined =>
        new RegExp(`^${name}: (.*)$`, 'im').exec(response.slice(0, response.indexOf('\r\n\r\n')))?.[1]?.trim();
      const badHeader = await raw('GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n');
      expect(badHeader).toMatch(/^HTTP\/1\.1 400 /);
      expect(badHeader).toMatch(/content-type: application\/problem\+json/i);
      expect(JSON.parse(badHeader.slice(badHeader.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 400, code: 'bad_request' });
      const huge = await raw(`GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(huge).toMatch(/^HTTP\/1\.1 431 /);
      expect(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 431, code: 'headers_too_large' });
      // No request could be read, so no caller id: a generated one, and the same security headers as any answer.
      for (const response of [badHeader, huge]) {
        expect(headerOf(response, 'x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
        for (const [name, value] of Object.entries(API_SECURITY_HEADERS))
          expect({ name, value: headerOf(response, name) }).toEqual({ name, value });
      }
      expect(headerOf(badHeader, 'x-request-id')).not.toBe(headerOf(huge, 'x-request-id'));
    });

    it('503 when a dependency refuses connections', async () => {
      const res = await request(t.url, 'GET', '/api/v1/__probe/db-down');
      expectProblem(res, 503, 'dependency_unavailable');
      expect(res.text).not.toMatch(/ECONNREFUSED|5432/);
    });
  });

  describe('security headers and CORS', () => {
    const headersOf = (res: { headers: Headers }, names: readonly string[]): Record<string, string | null> =>
      Object.fromEntries(names.map((name) => [name, res.headers.get(name)]));

    it("sets OWASP's API security headers, no-store included, on answers and on problems", async () => {
      const names = Object.keys(API_SECURITY_HEADERS);
      for (const res of [
        await request(t.url, 'GET', '/api/v1/health'),
        await request(t.url, 'GET', '/api/v1/no-such-route'),
        await request(t.url, 'GET', '/api/docs-json'),
        // Router failures are answered before any hook runs.
        await request(t.url, 'GET', '/api/v1/users/%E0%A4%A'),
        await request(t.url, 'GET', `/api/v1/users/${'a'.repeat(2049)}`),
      ]) {
        expect(headersOf(res, names)).toEqual({
          'cache-control': 'no-store',
          'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
          'cross-origin-resource-policy': 'same-origin',
          'referrer-policy': 'no-referrer',
          'strict-transport-security': 'max-age=31536000; includeSubDomains',
          'x-content-type-options': 'nosniff',
          'x-frame-options': 'DENY',
        });
        // Helmet's HTML-only headers stay off JSON.
        expect(headersOf(res, ['origin-agent-cluster', 'x-download-options'])).toEqual({
          'origin-agent-cluster': null,
          'x-download-options': null,
        });
      }
    });

    it("gives the Swagger UI helmet's HTML headers, with a CSP that runs its own scripts", async () => {
      for (const path of ['/api/docs', '/api/docs/', '/api/docs/swagger-ui.css']) {
        const res = await request(t.url, 'GET', path);
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        expect(res.headers.get('content-security-policy')).toContain("script-src 'self' 'unsafe-inline'");
        expect(res.headers.get('origin-agent-cluster')).toBe('?1');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      }
    });

    it('allows a preflight from an allowed origin and exposes our headers', async () => {
      const res = await request(t.url, 'OPTIONS', '/api/v1/users/me', {
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      const simple = await request(t.url, 'GET', '/api/v1/health', { headers: { origin: 'https://app.example.com' } });
      const exposed = (simple.headers.get('access-control-expose-headers') ?? '').toLowerCase();
      for (const h of ['retry-after', 'x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
        expect(exposed).toContain(h);
    });

    it('gives no CORS headers to another origin', async () => {
      const res = await request(t.url, 'OPTIONS', '/api/v1/users/me', {
        headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'GET' },
      });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const simple = await request(t.url, 'GET', '/api/v1/health', { headers: { origin: 'https://evil.example.net' } });
      expect(simple.headers.get('access-control-allow-origin')).toBeNull();
    });
    it('without CORS_ORIGINS gives no cross-origin access: no CORS headers, and a preflight is an unknown route', async () => {
      const closed = await createTestApp({});
      try {
        const preflight = await request(closed.url, 'OPTIONS', '/api/v1/users/me', {
          headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
        });
        expectProblem(preflight, 404, 'route_not_found', '/api/v1/users/me');
        expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
        const simple = await request(closed.url, 'GET', '/api/v1/health', { headers: { origin: 'https://app.example.com' } });
        expect(simple.status).toBe(200);
        expect(headersOf(simple, ['access-control-allow-origin', 'access-control-expose-headers', 'vary'])).toEqual({
          'access-control-allow-origin': null,
          'access-control-expose-headers': null,
          vary: null,
        });
      } finally {
        await closed.close();
      }
    });
  });

  describe('rate limiting', () => {
    it('answers 429 with Retry-After past a route limit, counted across two app instances on one Redis', async () => {
      const other = await createTestApp({}, { imports: [ProbeModule] });
      try {
        const ip = { 'x-forwarded-for': '203.0.113.9' }; // ignored: TRUST_PROXY is false, the key is the socket IP
        const first = await request(t.url, 'GET', '/api/v1/__probe/limited', { headers: ip });
        expect(first.status).toBe(200);
        expect(first.headers.get('x-ratelimit-limit')).toBe('2');
        expect((await request(other.url, 'GET', '/api/v1/__probe/limited')).status).toBe(200);
        const third = await request(t.url, 'GET', '/api/v1/__probe/limited');
        const body = expectProblem(third, 429, 'rate_limited', '/api/v1/__probe/limited');
        expect(body.detail).toBe('请求过于频繁');
        expect(Number(third.headers.get('retry-after'))).toBeLessThanOrEqual(60);
        // The budget's headers as on every other answer: none left, reset when the block ends.
        expect({
          limit: third.headers.get('x-ratelimit-limit'),
          remaining: third.headers.get('x-ratelimit-remaining'),
          reset: third.headers.get('x-ratelimit-reset'),
        }).toEqual({ limit: '2', remaining: '0', reset: third.headers.get('retry-after') });
        expectProblem(await request(other.url, 'GET', '/api/v1/__probe/limited'), 429, 'rate_limited');
      } finally {
        await other.close();
      }
    });

    it('every route without a limit of its own draws on one per-IP budget ("everything else"), apart from the routes that have one', async () => {
      const small = await createTestApp({ RATE_LIMIT_DEFAULT_PER_MINUTE: '3', TRUST_PROXY: 'true' }, { imports: [ProbeModule] });
      try {
        const ip = { 'x-forwarded-for': '198.51.100.23' };
        const get = (path: string) => request(small.url, 'GET', `/api/v1/${path}`, { headers: ip });
        expect((await get('__probe/conflict')).status).toBe(409);
        expect((await get('__probe/db-down')).status).toBe(503);
        const third = await get('users/somebody'); // 401: counted before authentication
        expect(third.status).toBe(401);
        expect([third.headers.get('x-ratelimit-limit'), third.headers.get('x-ratelimit-remaining')]).toEqual(['3', '0']);
        expectProblem(await get('__probe/conflict'), 429, 'rate_limited');
        expectProblem(await get('users/me'), 429, 'rate_limited');
        // A route with its own limit keeps its own budget; the probes are never limited.
        expect((await get('__probe/limited')).status).toBe(200);
        expect((await get('health')).status).toBe(200);
      } finally {
        await small.close();
      }
    });

    it('the counting script goes by its SHA (EVALSHA), and survives Redis forgetting it', async () => {
      const storage = t.app.get<ThrottlerStorage>(ThrottlerStorage);
      const redis = t.app.get<Redis>(getRedisConnectionToken());
      const key = `probe-${randomUUID()}`;
      // The commands this app sends for this key, and how each ended (INFO's counters are the whole server's).
      const send = redis.sendCommand.bind(redis);
      const commands: string[] = [];
      const spy = jest.spyOn(redis, 'sendCommand').mockImplementation((command, stream) => {
        if (command.args.some((arg) => String(arg).includes(key))) {
          command.promise.then(
            () => commands.push(`${command.name} ok`),
            () => commands.push(`${command.name} failed`),
          );
        }
        return send(command, stream);
      });
      try {
        const hits = [];
        for (let i = 0; i < 3; i++) hits.push(await storage.increment(key, 60_000, 2, 30_000, 'default'));
        expect(hits.map((h) => [h.totalHits, h.isBlocked])).toEqual([
          [1, false],
          [2, false],
          [3, true],
        ]);
        expect(hits[0]!.timeToExpire).toBeGreaterThan(55);
        expect(hits[0]!.timeToExpire).toBeLessThanOrEqual(60);
        expect(hits[2]!.timeToBlockExpire).toBe(30);
        await eventually(() => commands.length === 3);
        expect(commands).toEqual(['evalsha ok', 'evalsha ok', 'evalsha ok']);
        commands.length = 0;
        await redis.script('FLUSH');
        const again = await storage.increment(key, 60_000, 2, 30_000, 'default');
        expect([again.totalHits, again.isBlocked]).toEqual([4, true]);
        // Redis no longer knows the SHA: one EVAL sends the script again.
        await eventually(() => commands.length === 2);
        expect(commands).toEqual(['evalsha failed', 'eval ok']);
      } finally {
        spy.mockRestore();
      }
    });

    it('counts an IPv6 client by its /64 behind a trusted proxy, so changing address does not reset its budget', async () => {
      const proxied = await createTestApp({ TRUST_PROXY: 'true' }, { imports: [ProbeModule] });
      try {
        const from = (ip: string) => request(proxied.url, 'GET', '/api/v1/__probe/limited', { headers: { 'x-forwarded-for': ip } });
        expect((await from('2001:db8:7:1::1')).status).toBe(200);
        expect((await from('2001:db8:7:1::ffff')).status).toBe(200);
        expectProblem(await from('2001:db8:7:1:abcd::1'), 429, 'rate_limited');
        expect((await from('2001:db8:7:2::1')).status).toBe(200); // another /64, another client
        expect((await from('198.51.100.7')).status).toBe(200);
      } finally {
        await proxied.close();
      }
    });

    it('behind a proxy, counts the address the proxy appended (the rightmost), not what the client put before it', async () => {
      const proxied = await createTestApp({ TRUST_PROXY: 'true' }, { imports: [ProbeModule] });
      try {
        // What an ingress forwards: whatever the client sent, then the address it saw.
        const client = randomIp();
        const login = () =>
          request(proxied.url, 'POST', '/api/v1/auth/sessions', { body: {}, headers: { 'x-forwarded-for': `${randomIp()}, ${client}` } });
        // Counted before validation, so 30 invalid bodies (422) spend the budget of 30 per 5 minutes.
        for (let i = 0; i < 30; i++) expect((await login()).status).toBe(422);
        expectProblem(await login(), 429, 'rate_limited', '/api/v1/auth/sessions');
      } finally {
        await proxied.close();
      }
    });

    it('behind a proxy, falls back to the peer address when the forwarded one is not an IP', async () => {
      const proxied = await createTestApp({ TRUST_PROXY: 'true' }, { imports: [ProbeModule] });
      try {
        const password = `pw-${randomUUID()}`;
        const user = await createUser(proxied, { passwordHash: await proxied.app.get(PasswordHasher).hash(password) });
        for (const forged of [`x${'y'.repeat(99)}`, `fe80::1%${'z'.repeat(100)}`]) {
          const res = await request(proxied.url, 'POST', '/api/v1/auth/sessions', {
            body: { email: user.email, password },
            headers: { 'x-forwarded-for': forged },
          });
          expect(res.status).toBe(200);
        }
        const rows = await proxied.app
          .get(DataSource)
          .query<{ ip: string }[]>('SELECT ip FROM auth_sessions WHERE user_id = $1', [user.id]);
        expect(rows.map((r) => r.ip)).toEqual(['127.0.0.1', '127.0.0.1']);
      } finally {
        await proxied.close();
      }
    });

    it('counts a forged X-Forwarded-For that is no IP as the peer: one budget, and nothing forged in the key', async () => {
      const proxied = await createTestApp({ TRUST_PROXY: 'true' }, { imports: [ProbeModule] });
      try {
        const remaining = async (): Promise<number> => {
          const forged = { 'x-forwarded-for': `forged-${randomUUID()}-${'x'.repeat(2000)}` };
          const res = await request(proxied.url, 'POST', '/api/v1/__probe/echo', { body: {}, headers: forged });
          expect(res.status).toBe(422);
          return Number(res.headers.get('x-ratelimit-remaining'));
        };
        const first = await remaining();
        expect(await remaining()).toBe(first - 1);
        const redis = proxied.app.get<Redis>(getRedisConnectionToken());
        // KEYS takes no key prefix from the client: this run's keys, of every test file.
        const keys = await redis.keys(`${proxied.config.redis.keyPrefix}{rate:default:*`);
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) {
          expect(key.length).toBeLessThan(200);
          expect(key).not.toContain('forged');
        }
      } finally {
        await proxied.close();
      }
    });

    it('refuses a rate-limited request with 429 whatever its credentials, and counts one that has none', async () => {
      const user = await createUser(t);
      const path = '/api/v1/__probe/limited-private';
      expectProblem(await request(t.url, 'GET', path), 401, 'unauthenticated', path); // counted: 1 of 1
      expectProblem(await request(t.url, 'GET', path, { token: user.accessToken }), 429, 'rate_limited', path);
      expectProblem(await request(t.url, 'GET', path, { token: 'not.a.jwt' }), 429, 'rate_limited', path);
    });

    it('sends the rate-limit count and the revocation check to Redis together: one round trip, not two', async () => {
      const user = await createUser(t);
      const get = () => request(t.url, 'GET', '/api/v1/__probe/private', { token: user.accessToken });
      expect((await get()).status).toBe(200); // the counting script is loaded (an earlier test flushes it)
      const redis = t.app.get<Redis>(getRedisConnectionToken());
      const send = redis.sendCommand.bind(redis);
      const events: string[] = [];
      const ours = (command: Command): boolean => command.args.some((arg) => /rate:default:|auth:revoked-session:/.test(String(arg)));
      const spy = jest.spyOn(redis, 'sendCommand').mockImplementation((command, stream) => {
        if (ours(command)) {
          events.push(`sent ${command.name}`);
          command.promise.then(
            () => events.push(`answered ${command.name}`),
            () => events.push(`failed ${command.name}`),
          );
        }
        return send(command, stream);
      });
      try {
        expect((await get()).status).toBe(200);
      } finally {
        spy.mockRestore();
      }
      // Two guards one after the other would give: sent evalsha, answered evalsha, sent mget, answered mget.
      expect(events.slice(0, 2).sort()).toEqual(['sent evalsha', 'sent mget']);
      expect(events.slice(2).sort()).toEqual(['answered evalsha', 'answered mget']);
    });

    it('never limits health routes', async () => {
      const answers = await Promise.all(Array.from({ length: 5 }, () => request(t.url, 'GET', '/api/v1/health')));
      expect(answers.every((r) => r.status === 200 && r.headers.get('x-ratelimit-limit') === null)).toBe(true);
    });
  });

  describe('OpenAPI', () => {
    it('serves the JSON document and the UI', async () => {
      const json = await request<{ openapi: string; paths: Record<string, unknown> }>(t.url, 'GET', '/api/docs-json');
      expect(json.status).toBe(200);
      expect(json.body.paths['/api/v1/health']).toBeDefined();
      expect(json.body.paths['/api/v1/__probe/echo']).toBeUndefined();
      const ui = await request(t.url, 'GET', '/api/docs');
      expect(ui.status).toBe(200);
      expect(ui.text).toMatch(/swagger/i);
    });
  });
});

describe('readiness with an unreachable Redis', () => {
  it('turns 503 with the same body shape within 2 s', async () => {
    const t = await createTestApp({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const started = Date.now();
      const res = await request(t.url, 'GET', '/api/v1/infra/health');
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: 'unhealthy',
        services: {
          redis: { status: 'unhealthy', latency_ms: expect.any(Number) },
          postgres: { status: 'healthy', latency_ms: expect.any(Number) },
        },
      });
    } finally {
      await t.close();
    }
  });
});
