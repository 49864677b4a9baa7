import { randomUUID } from 'node:crypto';
import type { ClientPlan, LoadSpec, PlannedRequest } from '../load/load-spec';
import type { BenchOptions } from './options';

/** A signed-in seeded user: what the authenticated scenarios send. */
export interface BenchUser {
  readonly username: string;
  readonly email: string;
  readonly accessToken: string;
}

export interface ScenarioContext {
  readonly apiUrl: string;
  readonly baselineUrl: string;
  readonly users: readonly BenchUser[];
  readonly password: string;
  readonly options: BenchOptions;
  /** Fresh sessions (refresh tokens), one per chain; each scenario that rotates gets its own. */
  openChains(count: number): Promise<string[]>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Which process serves it (its CPU is the one reported): the API (default) or the bare baseline. */
  readonly server?: 'api' | 'baseline';
  build(ctx: ScenarioContext): LoadSpec | Promise<LoadSpec>;
}

const API = '/api/v1';
const bearer = (u: BenchUser): Record<string, string> => ({ authorization: `Bearer ${u.accessToken}` });
const json = (value: unknown): string => JSON.stringify(value);

/** Spreads users over the clients: client k cycles through `perClient` users starting at its own offset. */
function userPlans(
  ctx: ScenarioContext,
  connections: number,
  perClient: number,
  make: (u: BenchUser, i: number) => PlannedRequest,
): ClientPlan[] {
  const { users } = ctx;
  return Array.from({ length: connections }, (_, k) => ({
    requests: Array.from({ length: Math.min(perClient, users.length) }, (_, i) => {
      const index = (k * perClient + i) % users.length;
      return make(users[index]!, index);
    }),
  }));
}

function spec(ctx: ScenarioContext, url: string, connections: number, plans: ClientPlan[], ipBlock = 1): LoadSpec {
  return { url, connections, warmupSeconds: ctx.options.warmup, durationSeconds: ctx.options.duration, plans, ipBlock };
}

const get = (path: string, headers?: Record<string, string>): PlannedRequest => ({ method: 'GET', path, headers });

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'baseline',
    description: 'bare Fastify, GET /health → {"status":"ok"}',
    server: 'baseline',
    build: (ctx) => spec(ctx, ctx.baselineUrl, ctx.options.connections, [{ requests: [get('/health')] }]),
  },
  {
    name: 'health',
    description: 'GET /api/v1/health (liveness)',
    build: (ctx) => spec(ctx, ctx.apiUrl, ctx.options.connections, [{ requests: [get(`${API}/health`)] }]),
  },
  {
    name: 'infra-health',
    description: 'GET /api/v1/infra/health (PostgreSQL + Redis probes)',
    build: (ctx) => spec(ctx, ctx.apiUrl, ctx.options.connections, [{ requests: [get(`${API}/infra/health`)] }]),
  },
  {
    name: 'users-me',
    description: 'GET /api/v1/users/me, tokens of every seeded user',
    build: (ctx) =>
      spec(
        ctx,
        ctx.apiUrl,
        ctx.options.connections,
        userPlans(ctx, ctx.options.connections, 20, (u) => get(`${API}/users/me`, bearer(u))),
      ),
  },
  {
    name: 'users-by-name',
    description: 'GET /api/v1/users/{username} (other users, upper-cased: case-insensitive match)',
    build: (ctx) =>
      spec(
        ctx,
        ctx.apiUrl,
        ctx.options.connections,
        userPlans(ctx, ctx.options.connections, 20, (u, i) => {
          const other = ctx.users[(i + 1) % ctx.users.length]!;
          return get(`${API}/users/${other.username.toUpperCase()}`, bearer(u));
        }),
      ),
  },
  {
    name: 'io-floor',
    description:
      'bare Fastify with the I/O of /users/{username} and nothing else (one Redis command, one indexed PostgreSQL read): the floor for the profile routes',
    server: 'baseline',
    build: (ctx) =>
      spec(
        ctx,
        ctx.baselineUrl,
        ctx.options.connections,
        userPlans(ctx, ctx.options.connections, 20, (_u, i) =>
          get(`/floor/users/${ctx.users[(i + 1) % ctx.users.length]!.username.toUpperCase()}`),
        ),
      ),
  },
  {
    name: 'login',
    description: 'POST /api/v1/auth/sessions (argon2id verify + session insert)',
    build: (ctx) =>
      spec(
        ctx,
        ctx.apiUrl,
        ctx.options.loginConnections,
        userPlans(ctx, ctx.options.loginConnections, 20, (u) => ({
          method: 'POST',
          path: `${API}/auth/sessions`,
          body: json({ email: u.email, password: ctx.password }),
          freshIp: true,
        })),
        2,
      ),
  },
  {
    name: 'refresh',
    description: 'POST /api/v1/auth/sessions/refresh, each client rotating its own chain',
    build: async (ctx) => {
      const chains = await ctx.openChains(ctx.options.connections);
      const plans = chains.map((refreshToken) => ({
        refreshToken,
        requests: [{ method: 'POST', path: `${API}/auth/sessions/refresh`, freshIp: true, refresh: true } as const],
      }));
      return spec(ctx, ctx.apiUrl, ctx.options.connections, plans, 3);
    },
  },
  {
    name: 'agent-chats',
    description: 'POST /api/v1/agent-chats, offline model, new session per run',
    build: (ctx) =>
      spec(
        ctx,
        ctx.apiUrl,
        ctx.options.connections,
        userPlans(ctx, ctx.options.connections, 20, (u) => ({
          method: 'POST',
          path: `${API}/agent-chats`,
          headers: bearer(u),
          body: json({ message: 'hello' }),
        })),
      ),
  },
  {
    name: 'agent-overhead',
    description: 'POST /api/v1/agent-chats, offline model, 1 connection: p50 = server overhead per run',
    build: (ctx) =>
      spec(
        ctx,
        ctx.apiUrl,
        1,
        userPlans(ctx, 1, 20, (u) => ({
          method: 'POST',
          path: `${API}/agent-chats`,
          headers: bearer(u),
          body: json({ message: 'hello' }),
        })),
      ),
  },
  {
    name: 'agent-follow-up',
    description: 'POST /api/v1/agent-chats with a session_id, offline model, 1 connection: follow-up messages in 200 chats',
    build: (ctx) => {
      // Client-chosen session ids: a chat's first run creates it, every later one continues it with
      // its history, as most runs of a real chat do. 200 chats: at 200 runs/s each gains about one
      // turn per second of load, some 25 over a two-round bench.
      const chats = Array.from({ length: 200 }, (_, i) => ({ user: ctx.users[i % ctx.users.length]!, sessionId: randomUUID() }));
      const requests = chats.map((chat): PlannedRequest => ({
        method: 'POST',
        path: `${API}/agent-chats`,
        headers: bearer(chat.user),
        body: json({ message: 'hello again', session_id: chat.sessionId }),
      }));
      return spec(ctx, ctx.apiUrl, 1, [{ requests }]);
    },
  },
  {
    name: 'mixed',
    description: 'per 20 requests: 10 users/me, 5 users/{username}, 2 health, 1 infra/health, 1 refresh, 1 agent run',
    build: async (ctx) => {
      const n = ctx.options.connections;
      const chains = await ctx.openChains(n);
      const plans = chains.map((refreshToken, k): ClientPlan => {
        const u = (i: number): BenchUser => ctx.users[(k * 7 + i) % ctx.users.length]!;
        const requests: PlannedRequest[] = [
          ...Array.from({ length: 10 }, (_, i) => get(`${API}/users/me`, bearer(u(i)))),
          ...Array.from({ length: 5 }, (_, i) => get(`${API}/users/${u(i + 1).username}`, bearer(u(i)))),
          get(`${API}/health`),
          get(`${API}/health`),
          get(`${API}/infra/health`),
          { method: 'POST', path: `${API}/auth/sessions/refresh`, freshIp: true, refresh: true },
          { method: 'POST', path: `${API}/agent-chats`, headers: bearer(u(0)), body: json({ message: 'hello' }) },
        ];
        // Interleave so no client runs all its reads, then all its writes.
        return { refreshToken, requests: requests.map((_, i) => requests[(i * 7) % requests.length]!) };
      });
      return spec(ctx, ctx.apiUrl, n, plans, 4);
    },
  },
];
