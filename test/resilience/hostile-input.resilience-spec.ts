import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { dropDatabase } from '../../src/common/database/ensure-database';
import { randomIp, uniqueName } from '../e2e/support/auth';
import { request } from '../e2e/support/http';
import { startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { signUp, type Account } from './support/flows';
import { hostileBody, hostileContentType, hostileHeaders, hostileQuery, hostileRawBody, hostileSegment } from './support/hostile';
import { rawRequest } from './support/raw-http';
import { discoverRoutes, type RouteInfo } from './support/routes';
import { launchServer, unexpectedErrors, type Server } from './support/server';

/** Runs per route; bounded so the whole suite stays within its time budget. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 120);

/**
 * Every route of the contract (seed routes document, CONTRACT.md extensions). A test below fails
 * when the server serves a route missing here, so a new route cannot escape the fuzzing.
 */
const ROUTES = [
  ['POST', '/api/v1/auth/verifications'],
  ['POST', '/api/v1/auth/verifications/resend'],
  ['POST', '/api/v1/auth/verifications/verify'],
  ['POST', '/api/v1/auth/sessions'],
  ['POST', '/api/v1/auth/sessions/refresh'],
  ['DELETE', '/api/v1/auth/sessions'],
  ['GET', '/api/v1/auth/users'],
  ['GET', '/api/v1/users/me'],
  ['PATCH', '/api/v1/users/me'],
  ['GET', '/api/v1/users/{username}'],
  ['POST', '/api/v1/agent-chats'],
  ['GET', '/api/v1/agent-chats'],
  ['GET', '/api/v1/agent-chats/{session_id}'],
  ['GET', '/api/v1/infra/health'],
  ['GET', '/api/v1/health'],
].map(([method, path]) => ({ method: method!, path: path! }));

interface Attempt {
  readonly kind: 'json' | 'raw' | 'query' | 'path' | 'headers';
  readonly path: string;
  readonly body?: Buffer;
  readonly headers: Record<string, string>;
}

/**
 * Property-based fuzzing (fast-check) of every route's body, query, path and headers against the
 * real server on a database of this file's own: every answer is 2xx (the input happened to be
 * valid) or a 4xx problem+json, never a 5xx or a hang; a refused request writes nothing; the
 * process stays healthy.
 */
describe('hostile input', () => {
  let mailbox: Mailbox;
  let server: Server;
  let admin: Account;
  let routes: RouteInfo[];
  let db: Client;
  const databaseUrl = (() => {
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `${url.pathname}_fuzz`;
    return url.toString();
  })();

  beforeAll(async () => {
    mailbox = await startMailbox();
    const adminName = uniqueName('fuzzadmin');
    server = await launchServer({
      DATABASE_URL: databaseUrl,
      DB_MIGRATIONS_RUN: 'true',
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX}fuzz:`,
      SMTP_URL: mailbox.smtpUrl,
      ADMIN_EMAILS: `${adminName}@example.test`,
      AGENT_RUNS_PER_MINUTE: '100000',
      AUTH_MAIL_MIN_INTERVAL_SECONDS: '0',
    });
    admin = await signUp(server.url, mailbox, { username: adminName });
    routes = await discoverRoutes(server.url);
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await server?.stop();
    await mailbox?.stop();
    await dropDatabase(databaseUrl).catch(() => undefined);
  });

  /** The content of every table (the outbox by row count: its worker updates rows on its own). */
  async function fingerprint(): Promise<string> {
    const tables = (
      await db.query<{ name: string }>(
        `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'typeorm_migrations' ORDER BY 1`,
      )
    ).rows;
    // One client runs one query at a time (pg deprecates queueing them with Promise.all).
    const parts: string[] = [];
    for (const { name } of tables) {
      const sql =
        name === 'mail_outbox'
          ? `SELECT count(*)::text AS f FROM mail_outbox`
          : `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS f FROM "${name}" t`;
      parts.push(`${name}:${(await db.query<{ f: string }>(sql)).rows[0]!.f}`);
    }
    return parts.join(',');
  }

  function attempts(route: RouteInfo): fc.Arbitrary<Attempt> {
    const fields = route.bodyFields ?? [];
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const fill = (segment: fc.Arbitrary<string>): fc.Arbitrary<string> =>
      fc.tuple(...params.map(() => segment)).map((values) => params.reduce((p, name, i) => p.replace(`{${name}}`, values[i]!), route.path));
    const sane = fill(fc.constant('')).map(() =>
      params.reduce((p, name) => p.replace(`{${name}}`, name === 'username' ? admin.username : randomUUID()), route.path),
    );
    const base = (): Record<string, string> => ({ authorization: `Bearer ${admin.access_token}`, 'x-forwarded-for': randomIp() });
    const kinds: fc.Arbitrary<Attempt>[] = [
      fc
        .tuple(sane, hostileQuery(route.queryParams))
        .map(([path, query]) => ({ kind: 'query' as const, path: `${path}?${query}`, headers: base() })),
      fc.tuple(sane, hostileHeaders).map(([path, headers]) => ({ kind: 'headers' as const, path, headers: { ...base(), ...headers } })),
    ];
    if (params.length > 0) kinds.push(fill(hostileSegment).map((path) => ({ kind: 'path' as const, path, headers: base() })));
    if (route.bodyFields !== undefined) {
      kinds.push(
        fc.tuple(sane, hostileBody(fields)).map(([path, body]) => ({
          kind: 'json' as const,
          path,
          body: Buffer.from(JSON.stringify(body) ?? 'null'),
          headers: { ...base(), 'content-type': 'application/json' },
        })),
        fc
          .tuple(sane, hostileRawBody(fields), hostileContentType)
          .map(([path, body, type]) => ({ kind: 'raw' as const, path, body, headers: { ...base(), 'content-type': type } })),
      );
    }
    return fc.oneof(...kinds);
  }

  it.each(ROUTES)(
    '$method $path: 2xx or 4xx problem+json, never 5xx or a hang; a refused request writes nothing',
    async ({ method, path }) => {
      const route = routes.find((r) => r.method === method && r.path === path);
      if (!route) throw new Error(`${method} ${path} is not served (yet?)`);
      const seen: Record<string, number> = {};
      const errorsBefore = unexpectedErrors(server).length;
      const details = await fc.check(
        fc.asyncProperty(attempts(route), async (attempt) => {
          const before = await fingerprint();
          const res = await fetch(`${server.url}${attempt.path}`, {
            method,
            headers: attempt.headers,
            body: attempt.body,
            signal: AbortSignal.timeout(15_000),
          });
          const text = await res.text();
          seen[`${attempt.kind} ${res.status}`] = (seen[`${attempt.kind} ${res.status}`] ?? 0) + 1;
          const where = `${method} ${attempt.path.slice(0, 300)} → ${res.status} ${text.slice(0, 300)}`;
          if (res.status >= 500) throw new Error(`5xx: ${where}`);
          if (res.status < 400) return;
          if (!/^application\/problem\+json/.test(res.headers.get('content-type') ?? '')) throw new Error(`not problem+json: ${where}`);
          const problem = JSON.parse(text) as { status?: unknown; code?: unknown; type?: unknown };
          if (problem.status !== res.status || typeof problem.code !== 'string' || problem.type !== 'about:blank')
            throw new Error(`malformed problem: ${where}`);
          const after = await fingerprint();
          if (after !== before) throw new Error(`a refused request wrote to the database: ${where}`);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
      // A short account of the failure (the raw counterexample can be a 64 KiB body).
      if (details.failed)
        throw new Error(
          `after ${details.numRuns} runs (seed ${details.seed}): ${describeAttempt(details.counterexample?.[0])}\n${String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance)}`,
        );

      // Something was refused (the fuzz reached the validation), and the process is still healthy.
      if (route.bodyFields !== undefined || route.path.includes('{') || route.queryParams.length > 0)
        expect(Object.keys(seen).some((k) => / 4\d\d$/.test(k))).toBe(true);
      expect((await request(server.url, 'GET', '/api/v1/infra/health')).status).toBe(200);
      expect(server.process.child.exitCode).toBeNull();
      expect(unexpectedErrors(server, errorsBefore)).toEqual([]);
    },
  );

  it('fuzzes every route the server serves', () => {
    const fuzzed = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    expect(routes.map((r) => `${r.method} ${r.path}`).filter((r) => !fuzzed.has(r))).toEqual([]);
  });

  it('answers protocol-level garbage (bad URL encoding, over-long path parameter, bad header bytes, bad Content-Length, huge headers) with a 4xx problem+json', async () => {
    const cases: [string, Buffer][] = [
      [
        'malformed percent-encoding in the path',
        Buffer.from('GET /api/v1/users/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ],
      [
        'a path parameter over 100 characters',
        Buffer.from(`GET /api/v1/users/${'a'.repeat(101)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      ],
      ['overlong UTF-8 in the path', Buffer.from('GET /api/v1/users/%C0%AF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
      [
        'control bytes in a header',
        Buffer.concat([
          Buffer.from('GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-A: '),
          Buffer.from([0x00, 0x01]),
          Buffer.from('\r\nConnection: close\r\n\r\n'),
        ]),
      ],
      [
        'non-numeric Content-Length',
        Buffer.from(
          'POST /api/v1/auth/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}',
        ),
      ],
      [
        'two Content-Length headers',
        Buffer.from(
          'POST /api/v1/auth/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}',
        ),
      ],
      ['a 20 KB header', Buffer.from(`GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`)],
    ];
    const outcomes = [];
    for (const [name, bytes] of cases) {
      const res = await rawRequest(server.port, bytes);
      outcomes.push({
        name,
        status: res.status >= 400 && res.status < 500,
        problem: /^application\/problem\+json/.test(res.headers['content-type'] ?? ''),
      });
    }
    expect((await request(server.url, 'GET', '/api/v1/health')).status).toBe(200);
    expect(outcomes).toEqual(cases.map(([name]) => ({ name, status: true, problem: true })));
  });
});

function describeAttempt(attempt: Attempt | undefined): string {
  if (!attempt) return 'no counterexample';
  const body = attempt.body ? ` body(${attempt.body.length} B)=${attempt.body.subarray(0, 160).toString('latin1')}` : '';
  const headers = Object.entries(attempt.headers)
    .filter(([k]) => k !== 'authorization' || !attempt.headers[k]!.startsWith('Bearer ey'))
    .map(([k, v]) => `${k}: ${v.slice(0, 80)}`)
    .join('; ');
  return `${attempt.kind} ${attempt.path.slice(0, 200)}${body} [${headers}]`;
}
