import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomIp } from '../e2e/support/auth';
import { eventually, request } from '../e2e/support/http';
import { startMailbox, type Mailbox } from '../e2e/support/mailbox';
import { dropFileDatabase, query, useFileDatabase } from './support/db';
import { ip, signUp, signUpMany } from './support/flows';
import { launchServer } from './support/server';

type Outcome = number | 'closed';

/** SIGTERM and SIGKILL on the real process, with work in flight. */
describe('graceful shutdown', () => {
  useFileDatabase('shutdown');
  afterAll(() => dropFileDatabase());
  let mailbox: Mailbox;
  const env = (): Record<string, string> => ({ SMTP_URL: mailbox.smtpUrl, MAIL_POLL_INTERVAL_MS: '200', AGENT_RUNS_PER_MINUTE: '100000' });

  beforeAll(async () => {
    mailbox = await startMailbox();
  });

  afterAll(async () => {
    await mailbox?.stop();
  });

  it('SIGTERM with 200 requests in flight: each completes or its connection closes before any work, zero 5xx, exit 0 within 10 s', async () => {
    const server = await launchServer(env());
    try {
      const account = await signUp(server.url, mailbox);
      const spare = await signUpMany(server.url, mailbox, 20);
      const send = (i: number): Promise<Outcome> => {
        const pick = i % 5;
        const call =
          pick === 0
            ? request(server.url, 'GET', '/api/v1/users/me', { token: account.access_token, headers: ip() })
            : pick === 1
              ? request(server.url, 'PATCH', '/api/v1/users/me', { token: account.access_token, body: { bio: `bio ${i}` }, headers: ip() })
              : pick === 2
                ? request(server.url, 'POST', '/api/v1/auth/sessions/refresh', {
                    body: { refresh_token: spare[i % spare.length]!.refresh_token },
                    headers: ip(),
                  })
                : pick === 3
                  ? request(server.url, 'POST', '/api/v1/agent-chats', {
                      token: account.access_token,
                      body: { message: `what is ${i} * 3?` },
                      headers: ip(account.ip),
                    })
                  : request(server.url, 'GET', '/api/v1/infra/health');
        return call.then(
          (r) => r.status,
          () => 'closed' as const,
        );
      };
      const inFlight = Array.from({ length: 200 }, (_, i) => send(i));
      const signalledAt = Date.now();
      server.process.child.kill('SIGTERM');
      const outcomes = await Promise.all(inFlight);
      const exit = await server.process.exited;
      const elapsed = Date.now() - signalledAt;
      const counts: Record<string, number> = {};
      for (const o of outcomes) counts[String(o)] = (counts[String(o)] ?? 0) + 1;
      expect({ fiveXx: outcomes.filter((o) => typeof o === 'number' && o >= 500).length, counts }).toEqual({ fiveXx: 0, counts });
      expect(exit).toBe(0);
      expect(elapsed).toBeLessThan(10_000);
      // Whatever completed left a consistent database: no run stays `running`.
      expect(await query(`SELECT id FROM agent_chat_runs WHERE user_id = $1 AND status = 'running'`, [account.user.id])).toEqual([]);
    } finally {
      await server.kill();
    }
  });

  describe('an agent run in flight', () => {
    let model: HttpServer;
    let modelUrl: string;
    const held: (() => void)[] = [];

    beforeAll(async () => {
      // An OpenAI-compatible model that takes the request and never answers: a run stays in flight.
      model = createServer((req, res) => {
        req.resume();
        held.push(() => res.destroy());
      });
      await new Promise<void>((resolve) => model.listen(0, '127.0.0.1', () => resolve()));
      modelUrl = `http://127.0.0.1:${(model.address() as AddressInfo).port}/v1`;
    });

    afterAll(async () => {
      for (const release of held) release();
      await new Promise<void>((resolve) => model.close(() => resolve()));
    });

    it('SIGTERM: the run ends recorded as aborted, exit 0 within 10 s', async () => {
      const server = await launchServer({
        ...env(),
        LLM_PROVIDER: 'openai',
        LLM_MODEL: 'slow-model',
        LLM_BASE_URL: modelUrl,
        LLM_API_KEY: 'test',
      });
      try {
        const account = await signUp(server.url, mailbox);
        const answer = request(server.url, 'POST', '/api/v1/agent-chats', {
          token: account.access_token,
          body: { message: 'hello' },
          headers: ip(account.ip),
        }).then(
          (r) => r.status,
          () => 'closed' as const,
        );
        await eventually(
          async () =>
            (await query(`SELECT id FROM agent_chat_runs WHERE user_id = $1 AND status = 'running'`, [account.user.id])).length === 1,
          10_000,
          50,
        );
        const signalledAt = Date.now();
        server.process.child.kill('SIGTERM');
        const exit = await server.process.exited;
        const elapsed = Date.now() - signalledAt;
        const status = await answer;
        const runs = await query<{ status: string }>(`SELECT status FROM agent_chat_runs WHERE user_id = $1`, [account.user.id]);
        expect({ exit, withinBudget: elapsed < 10_000, runs, answeredWithout5xx: status === 'closed' || status < 500 }).toEqual({
          exit: 0,
          withinBudget: true,
          runs: [{ status: 'aborted' }],
          answeredWithout5xx: true,
        });
      } finally {
        await server.kill();
      }
    });
  });

  it('SIGKILL mid-run: runs the dead process left `running` are marked failed at the next start-up', async () => {
    const first = await launchServer(env());
    const account = await signUp(first.url, mailbox);
    const burst = Array.from({ length: 30 }, (_, i) =>
      request(first.url, 'POST', '/api/v1/agent-chats', {
        token: account.access_token,
        body: { message: `what time is it? ${i}` },
        headers: ip(randomIp()),
      }).catch(() => undefined),
    );
    await eventually(
      async () => (await query(`SELECT id FROM agent_chat_runs WHERE user_id = $1`, [account.user.id])).length > 0,
      10_000,
      5,
    );
    await first.kill();
    await Promise.all(burst);
    let stranded = await query<{ id: string }>(`SELECT id FROM agent_chat_runs WHERE user_id = $1 AND status = 'running'`, [
      account.user.id,
    ]);
    if (stranded.length === 0) {
      // Every run of the burst beat the kill: strand one the way a crash would leave it.
      const session = await query<{ id: string }>(`SELECT id FROM agent_chat_sessions WHERE user_id = $1 LIMIT 1`, [account.user.id]);
      await query(
        `INSERT INTO agent_chat_runs (id, session_id, user_id, status, provider, model) VALUES (gen_random_uuid(), $1, $2, 'running', 'offline', 'offline')`,
        [session[0]!.id, account.user.id],
      );
      stranded = await query<{ id: string }>(`SELECT id FROM agent_chat_runs WHERE user_id = $1 AND status = 'running'`, [account.user.id]);
    }
    // A run is only presumed dead once it is older than the run timeout (another replica may
    // still own a younger one): age the stranded runs instead of waiting that long.
    await query(`UPDATE agent_chat_runs SET started_at = started_at - interval '1 hour' WHERE user_id = $1 AND status = 'running'`, [
      account.user.id,
    ]);
    const second = await launchServer(env());
    try {
      const ids = stranded.map((r) => r.id);
      await eventually(
        async () => (await query(`SELECT id FROM agent_chat_runs WHERE id = ANY($1) AND status = 'running'`, [ids])).length === 0,
        10_000,
        100,
      );
      const rows = await query<{ status: string; finished_at: Date | null }>(
        `SELECT status, finished_at FROM agent_chat_runs WHERE id = ANY($1)`,
        [ids],
      );
      expect(rows.every((r) => r.status === 'failed' && r.finished_at !== null)).toBe(true);
      // The session is usable again.
      expect(
        (
          await request(second.url, 'POST', '/api/v1/agent-chats', {
            token: account.access_token,
            body: { message: 'hello again' },
            headers: ip(account.ip),
          })
        ).status,
      ).toBe(200);
    } finally {
      await second.stop();
    }
  });
});
