import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { FakeListChatModel, GatedModel, SilentModel, SwitchableModelFactory } from '../../src/modules/agent-chat/llm/testing';
import { overrideModel, parseSse } from './agent-chat.fixtures';
import { eventually, expectProblem, request } from './support/http';
import { createTestApp, type TestApp } from './support/test-app';
import { createUser, type TestUser } from './support/users';

jest.setTimeout(30_000);

/** Short limits (configurable for tests) so timeouts and the per-user rate limit are cheap to hit. */
describe('agent chat limits', () => {
  const models = new SwitchableModelFactory();
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp(
      { AGENT_MODEL_TIMEOUT_MS: '200', AGENT_RUN_TIMEOUT_MS: '5000', AGENT_RUNS_PER_MINUTE: '3' },
      overrideModel(models),
    );
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const chat = (token: string, body: unknown, headers: Record<string, string> = {}) =>
    request(t.url, 'POST', '/api/v1/agent-chats', { token, body, headers });

  it('answers 504 model_timeout when the model never answers (one retry), recording the run failed (model_timeout)', async () => {
    const model = new SilentModel();
    models.model = model;
    const sessionId = randomUUID();
    expectProblem(await chat(user.accessToken, { message: 'hello?', session_id: sessionId }), 504, 'model_timeout');
    expect(model.calls).toBe(2); // the call and its single retry
    const runs = await t.app
      .get(DataSource)
      .query<unknown[]>(`SELECT status, error_code FROM agent_chat_runs WHERE session_id = $1`, [sessionId]);
    expect(runs).toEqual([{ status: 'failed', error_code: 'model_timeout' }]);
    const kept = await t.app
      .get(DataSource)
      .query<unknown[]>(`SELECT role, content FROM agent_chat_messages WHERE session_id = $1`, [sessionId]);
    expect(kept).toEqual([{ role: 'user', content: 'hello?' }]);

    models.model = new SilentModel();
    const sse = await chat(user.accessToken, { message: 'hello again?', session_id: sessionId }, { accept: 'text/event-stream' });
    expect(sse.status).toBe(200);
    const events = parseSse(sse.text);
    expect(events[events.length - 1]).toMatchObject({ event: 'RUN_ERROR', data: { code: 'model_timeout' } });
  });

  it('limits runs per user per minute (429 with Retry-After), independently for each user, and says so in the rate-limit headers', async () => {
    const [a, b] = [await createUser(t), await createUser(t)];
    models.model = new FakeListChatModel({ responses: ['ok'] });
    const budget = (res: { headers: Headers }) => [res.headers.get('x-ratelimit-limit'), res.headers.get('x-ratelimit-remaining')];
    const remaining: (string | null)[][] = [];
    for (let i = 0; i < 3; i++) {
      const res = await chat(a.accessToken, { message: `run ${i}` });
      expect(res.status).toBe(200);
      remaining.push(budget(res));
    }
    // The per-user limit (3 here), not the per-IP default (300): the route draws on no other budget.
    expect(remaining).toEqual([
      ['3', '2'],
      ['3', '1'],
      ['3', '0'],
    ]);
    const limited = await chat(a.accessToken, { message: 'one too many' });
    expectProblem(limited, 429, 'rate_limited');
    expect(budget(limited)).toEqual(['3', '0']);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeLessThanOrEqual(60);
    expect((await chat(b.accessToken, { message: 'my own budget' })).status).toBe(200);
  });

  it('counts only requests that could run: malformed bodies (422) and requests refused before a run opens (404, 409) leave the budget as it was', async () => {
    const u = await createUser(t);
    const other = await createUser(t);
    const remaining = (res: { headers: Headers }) => res.headers.get('x-ratelimit-remaining');
    for (let i = 0; i < 5; i++) expectProblem(await chat(u.accessToken, { mesage: 'typo' }), 422, 'validation_failed');
    models.model = new FakeListChatModel({ responses: ['theirs'] });
    const theirs = await chat(other.accessToken, { message: 'mine' });
    expect(theirs.status).toBe(200);
    const foreign = (theirs.body as { session_id: string }).session_id;
    for (let i = 0; i < 5; i++) {
      const res = await chat(u.accessToken, { message: 'not mine', session_id: foreign });
      expectProblem(res, 404, 'session_not_found');
      expect(remaining(res)).toBe('3');
    }
    const model = new GatedModel('Slow', '.');
    models.model = model;
    const sessionId = randomUUID();
    const running = chat(u.accessToken, { message: 'first', session_id: sessionId });
    await eventually(() => model.calls === 1);
    for (let i = 0; i < 5; i++)
      expectProblem(await chat(u.accessToken, { message: 'again', session_id: sessionId }), 409, 'run_in_progress');
    model.release();
    expect((await running).status).toBe(200);
    models.model = new FakeListChatModel({ responses: ['ok'] });
    const statuses: [number, string | null][] = [];
    for (let i = 0; i < 3; i++) {
      const res = await chat(u.accessToken, { message: `run ${i}` });
      statuses.push([res.status, remaining(res)]);
    }
    // The slow run took the first unit; two are left.
    expect(statuses).toEqual([
      [200, '1'],
      [200, '0'],
      [429, '0'],
    ]);
  });
});

describe('agent chat SSE heartbeat', () => {
  const models = new SwitchableModelFactory();
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ AGENT_SSE_HEARTBEAT_MS: '50', AGENT_RUNS_PER_MINUTE: '1000' }, overrideModel(models));
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('sends heartbeat comments while a run is quiet, and the events still parse around them', async () => {
    const model = new GatedModel('Slow', ' answer.');
    models.model = model;
    const res = await fetch(`${t.url}/api/v1/agent-chats`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message: 'take your time' }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    // Read until two heartbeats arrived while the model is held back, then let it answer.
    while ((text.match(/^: heartbeat$/gm) ?? []).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    expect((text.match(/^: heartbeat$/gm) ?? []).length).toBeGreaterThanOrEqual(2);
    model.release();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    const events = parseSse(text);
    expect(events[0]?.event).toBe('RUN_STARTED');
    expect(events.at(-1)?.event).toBe('RUN_FINISHED');
    expect(events.at(-1)?.data).toMatchObject({ output: 'Slow answer.' });
  });
});
