import { randomBytes } from 'node:crypto';
import { randomIp, uniqueName } from '../e2e/support/auth';
import { eventually, request, type ApiResponse } from '../e2e/support/http';
import { extractCode, startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { dropFileDatabase, query, useFileDatabase } from './support/db';
import { ip, type Tokens } from './support/flows';
import { launchServer, unexpectedErrors, type Server } from './support/server';

/** How long the mixed traffic runs (CI keeps the default, 3 minutes). */
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const WARM_UP_MS = Math.min(30_000, (SOAK_SECONDS * 1000) / 6);
const POOL_SIZE = 20;
const CLIENTS = 6;

interface User {
  username: string;
  email: string;
  password: string;
  ip: string;
  access: string;
  refresh: string;
}

/**
 * Minutes of mixed traffic on one server process: signups with real mail delivery, logins,
 * refreshes, profile reads and writes, agent runs on the offline model. Zero 5xx, every mail
 * delivered, RSS flat after warm-up, the database pool never exhausted.
 */
describe('soak', () => {
  useFileDatabase('soak');
  let mailbox: Mailbox;
  let server: Server;

  beforeAll(async () => {
    mailbox = await startMailbox();
    server = await launchServer({
      SMTP_URL: mailbox.smtpUrl,
      MAIL_POLL_INTERVAL_MS: '500',
      AGENT_RUNS_PER_MINUTE: '100000',
      DB_POOL_SIZE: String(POOL_SIZE),
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX}soak:`,
      // A bounded heap, as a container gets (deploy/k8s sets one too): V8 otherwise grows its heap
      // lazily for minutes under load, which is RSS growth without any leak. A leak still shows:
      // the heap would hit the cap and the process would fail.
      NODE_OPTIONS: '--max-old-space-size=128',
    });
  });

  afterAll(async () => {
    await server?.stop();
    await mailbox?.stop();
    await dropFileDatabase(); // after the server: dropping it ends every connection to it
  });

  it(
    `${SOAK_SECONDS} s of mixed traffic: zero 5xx, every mail delivered, RSS growth ≤ 10% after warm-up, pool never exhausted`,
    async () => {
      const users: User[] = [];
      const signedUp: string[] = [];
      const outcomes: Record<string, number> = {};
      const failures: string[] = [];
      const rss: { at: number; bytes: number }[] = [];
      let maxConnections = 0;
      const startedAt = Date.now();
      const endsAt = startedAt + SOAK_SECONDS * 1000;

      const note = (name: string, res: ApiResponse | undefined, error?: unknown): void => {
        const key = `${name} ${res ? res.status : 'error'}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (!res || res.status >= 500) failures.push(`${key} ${res ? res.text.slice(0, 200) : String(error)}`);
      };
      const call = async <T>(name: string, run: () => Promise<ApiResponse<T>>): Promise<ApiResponse<T> | undefined> => {
        try {
          const res = await run();
          note(name, res);
          return res;
        } catch (error) {
          note(name, undefined, error);
          return undefined;
        }
      };

      const signupFlow = async (): Promise<void> => {
        const username = uniqueName('soak');
        const email = `${username}@example.test`;
        const password = `pw-${randomBytes(6).toString('hex')}`;
        const client = randomIp();
        const res = await call('signup', () =>
          request(server.url, 'POST', '/api/v1/auth/verifications', { body: { username, email, password }, headers: ip(client) }),
        );
        if (res?.status !== 202) return;
        signedUp.push(email);
        const mail = await mailbox.waitForNth(email, 1, 30_000).catch(() => undefined);
        if (!mail) return;
        const verified = await call('verify', () =>
          request<Tokens>(server.url, 'POST', '/api/v1/auth/verifications/verify', {
            body: { email, token: extractCode(mail.text) },
            headers: ip(client),
          }),
        );
        if (verified?.status === 200)
          users.push({ username, email, password, ip: client, access: verified.body.access_token, refresh: verified.body.refresh_token });
      };
      const pickUser = (): User | undefined => users[Math.floor(Math.random() * users.length)];

      const actions: (() => Promise<void>)[] = [
        signupFlow,
        async () => {
          const u = pickUser();
          if (!u) return signupFlow();
          const res = await call('login', () =>
            request<Tokens>(server.url, 'POST', '/api/v1/auth/sessions', {
              body: { email: u.email, password: u.password },
              headers: ip(randomIp()),
            }),
          );
          if (res?.status === 200) Object.assign(u, { access: res.body.access_token, refresh: res.body.refresh_token });
        },
        async () => {
          const u = pickUser();
          if (!u) return;
          const res = await call('refresh', () =>
            request<Tokens>(server.url, 'POST', '/api/v1/auth/sessions/refresh', {
              body: { refresh_token: u.refresh },
              headers: ip(randomIp()),
            }),
          );
          if (res?.status === 200) Object.assign(u, { access: res.body.access_token, refresh: res.body.refresh_token });
        },
        async () => {
          const u = pickUser();
          if (u) await call('me', () => request(server.url, 'GET', '/api/v1/users/me', { token: u.access, headers: ip(u.ip) }));
        },
        async () => {
          const u = pickUser();
          if (u)
            await call('profile', () =>
              request(server.url, 'PATCH', '/api/v1/users/me', { token: u.access, body: { bio: `soak ${Date.now()}` }, headers: ip(u.ip) }),
            );
        },
        async () => {
          const u = pickUser();
          if (u)
            await call('public-profile', () =>
              request(server.url, 'GET', `/api/v1/users/${u.username}`, { token: u.access, headers: ip(u.ip) }),
            );
        },
        async () => {
          const u = pickUser();
          if (u)
            await call('agent', () =>
              request(server.url, 'POST', '/api/v1/agent-chats', {
                token: u.access,
                body: { message: 'What is (17 + 25) * 3, and who am I?' },
                headers: ip(u.ip),
              }),
            );
        },
      ];

      let sampling: Promise<unknown> = Promise.resolve();
      const sampler = setInterval(() => {
        rss.push({ at: Date.now(), bytes: server.rss() });
        sampling = query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'runtime-api' AND datname = current_database()`,
        ).then(
          (rows) => (maxConnections = Math.max(maxConnections, Number(rows[0]!.n))),
          () => undefined,
        );
      }, 2000);
      try {
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            while (Date.now() < endsAt) await actions[Math.floor(Math.random() * actions.length)]!();
          }),
        );
      } finally {
        clearInterval(sampler);
        await sampling; // none left running past the test
      }

      // Every mail the service accepted to send arrives.
      await eventually(() => signedUp.every((email) => mailbox.mailsTo(email).length > 0), 30_000, 200);

      expect(failures).toEqual([]);
      expect(Object.keys(outcomes).filter((k) => / 5\d\d$/.test(k))).toEqual([]);
      expect(users.length).toBeGreaterThan(5);
      expect(outcomes['agent 200'] ?? 0).toBeGreaterThan(5);
      expect(server.process.child.exitCode).toBeNull();
      expect(unexpectedErrors(server)).toEqual([]);

      // Memory: the mean of the first 20 s after warm-up against the mean of the last 20 s.
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const baseline = mean(
        rss.filter((s) => s.at >= startedAt + WARM_UP_MS && s.at < startedAt + WARM_UP_MS + 20_000).map((s) => s.bytes),
      );
      const final = mean(rss.filter((s) => s.at >= endsAt - 20_000).map((s) => s.bytes));
      const growthPercent = Math.round((final / baseline - 1) * 1000) / 10;
      expect(growthPercent).toBeLessThanOrEqual(10);

      // The pool always had room: never all connections busy at a sample, never a pool timeout (those are 503s).
      expect(maxConnections).toBeGreaterThan(0);
      expect(maxConnections).toBeLessThan(POOL_SIZE);
    },
    SOAK_SECONDS * 1000 + 120_000,
  );
});
