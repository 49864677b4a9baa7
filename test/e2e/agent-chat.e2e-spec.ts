import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import {
  AIMessage,
  fakeModel,
  FakeListChatModel,
  GatedModel,
  ScriptedStreamModel,
  SwitchableModelFactory,
} from '../../src/modules/agent-chat/llm/testing';
import { AuditLog } from '../../src/common/logging/audit-log';
import { STALE_RUN_SWEEP_LOCK } from '../../src/modules/agent-chat/persistence/agent-chat.repository';
import { STALE_RUN_SWEEP_INTERVAL_MS, StaleRunSweeper } from '../../src/modules/agent-chat/stale-run-sweeper';
import { overrideModel, parseSse } from './agent-chat.fixtures';
import { eventually, expectProblem, request, type ApiResponse } from './support/http';
import { captureQueries, planOf } from './support/queries';
import { createTestApp, type TestApp } from './support/test-app';
import { createUser, type TestUser } from './support/users';

interface ChatAnswer {
  session_id: string;
  output: string;
  events: { type: string; [k: string]: unknown }[];
}

jest.setTimeout(30_000);

describe('agent chat (fake models)', () => {
  const models = new SwitchableModelFactory();
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let db: DataSource;

  beforeAll(async () => {
    // Many runs from few users here; the per-user limit has its own test with a small limit.
    t = await createTestApp({ AGENT_RUNS_PER_MINUTE: '1000' }, overrideModel(models));
    db = t.app.get(DataSource);
    alice = await createUser(t);
    bob = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const chat = (user: TestUser, body: unknown, headers: Record<string, string> = {}) =>
    request<ChatAnswer>(t.url, 'POST', '/api/v1/agent-chats', { token: user.accessToken, body, headers });
  const runsOf = async (sessionId: string) =>
    db.query<{ status: string; error_code: string | null; model: string; model_calls: number; tool_calls: number }[]>(
      `SELECT status, error_code, model, model_calls, tool_calls FROM agent_chat_runs WHERE session_id = $1 ORDER BY started_at`,
      [sessionId],
    );
  /** A session of alice's holding one `running` run that started `startedAgo` ago (a PostgreSQL interval): as a crashed process leaves it. */
  const sessionWithRunningRun = async (startedAgo: string): Promise<{ sessionId: string; runId: string }> => {
    const sessionId = randomUUID();
    const runId = randomUUID();
    await db.query(`INSERT INTO agent_chat_sessions (id, user_id, title) VALUES ($1, $2, 'left running')`, [sessionId, alice.id]);
    await db.query(
      `INSERT INTO agent_chat_runs (id, session_id, user_id, status, provider, model, started_at) VALUES ($1, $2, $3, 'running', 'fake', 'x', now() - $4::interval)`,
      [runId, sessionId, alice.id, startedAgo],
    );
    return { sessionId, runId };
  };
  /** Runs `action` while a connection of its own holds the stale-run sweep's lock, as a replica sweeping. */
  const withSweepHeld = async (action: () => Promise<void>): Promise<void> => {
    const other = new Client({ connectionString: t.config.database.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [STALE_RUN_SWEEP_LOCK]);
      await action();
    } finally {
      await other.end(); // ends the transaction, and so the lock, with the connection
    }
  };
  const messagesOf = async (sessionId: string) =>
    db.query<{ role: string; content: string }[]>(`SELECT role, content FROM agent_chat_messages WHERE session_id = $1 ORDER BY seq`, [
      sessionId,
    ]);

  it('answers a plain run with session_id, output and well-formed events, and stores it', async () => {
    models.model = new FakeListChatModel({ responses: ['Hello, Alice!'] });
    const res = await chat(alice, { message: 'Hi there' });
    expect(res.status).toBe(200);
    expect(res.body.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.output).toBe('Hello, Alice!');
    expect(res.body.events.map((e) => e.type)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(res.body.events[0]).toEqual({ type: 'RUN_STARTED', run_id: expect.any(String), session_id: res.body.session_id });
    expect(res.body.events[2]).toMatchObject({ delta: 'Hello, Alice!' });
    expect(res.body.events[4]).toEqual({ type: 'RUN_FINISHED', run_id: res.body.events[0]?.run_id, output: 'Hello, Alice!' });
    expect(await runsOf(res.body.session_id)).toEqual([
      { status: 'succeeded', error_code: null, model: 'fake-test-model', model_calls: 1, tool_calls: 0 },
    ]);
    expect(await messagesOf(res.body.session_id)).toEqual([
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: 'Hello, Alice!' },
    ]);
    const events = await db.query<{ type: string }[]>(`SELECT type FROM agent_chat_run_events WHERE run_id = $1 ORDER BY seq`, [
      res.body.events[0]?.run_id,
    ]);
    expect(events.map((e) => e.type)).toEqual(res.body.events.map((e) => e.type));
  });

  it('records a model answer holding what PostgreSQL cannot store (NUL, a lone surrogate) with U+FFFD in its place', async () => {
    models.model = new FakeListChatModel({ responses: ['a\u0000b\ud83d'] });
    const res = await chat(alice, { message: 'Say something odd' });
    expect(res.status).toBe(200);
    expect(await messagesOf(res.body.session_id)).toEqual([
      { role: 'user', content: 'Say something odd' },
      { role: 'assistant', content: 'a\uFFFDb\uFFFD' },
    ]);
    expect(await runsOf(res.body.session_id)).toEqual([expect.objectContaining({ status: 'succeeded' })]);
  });

  it('runs tools: calculator, and the caller’s own profile from the server-side identity', async () => {
    models.model = fakeModel()
      .respondWithTools([
        { name: 'calculator', args: { expression: '6 * 7' }, id: 'call_calc' },
        { name: 'my_profile', args: {}, id: 'call_me' },
      ])
      .respond(new AIMessage('42, and you are you.'));
    const audit = jest.spyOn(t.app.get(AuditLog), 'write');
    let res: Awaited<ReturnType<typeof chat>>;
    try {
      res = await chat(alice, { message: 'What is 6*7 and who am I?' });
      // One audit line per call, in the audit trail (kept at every LOG_LEVEL but silent).
      const runId = res.body.events.find((e) => e.type === 'RUN_STARTED')?.run_id;
      expect(audit.mock.calls.map(([fields]) => fields).sort((a, b) => String(a.tool).localeCompare(String(b.tool)))).toEqual([
        expect.objectContaining({ event: 'audit.agent_tool_call', tool: 'calculator', user_id: alice.id, run_id: runId, outcome: 'ok' }),
        expect.objectContaining({ event: 'audit.agent_tool_call', tool: 'my_profile', user_id: alice.id, run_id: runId, outcome: 'ok' }),
      ]);
    } finally {
      audit.mockRestore();
    }
    expect(res.status).toBe(200);
    const results = res.body.events.filter((e) => e.type === 'TOOL_CALL_RESULT');
    expect(results).toEqual(
      expect.arrayContaining([
        { type: 'TOOL_CALL_RESULT', tool_call_id: 'call_calc', tool_name: 'calculator', result: '42' },
        expect.objectContaining({ tool_call_id: 'call_me', tool_name: 'my_profile' }),
      ]),
    );
    const profile = JSON.parse(String(results.find((e) => e.tool_call_id === 'call_me')?.result)) as { id: string; username: string };
    expect(profile).toMatchObject({ id: alice.id, username: alice.username });
    expect(res.body.events.filter((e) => e.type === 'TOOL_CALL_START').map((e) => e.tool_call_id)).toEqual(['call_calc', 'call_me']);
    expect(res.body.output).toBe('42, and you are you.');
    expect((await runsOf(res.body.session_id))[0]).toMatchObject({ status: 'succeeded', model_calls: 2, tool_calls: 2 });
    expect((await messagesOf(res.body.session_id)).map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant']);
  });

  it('gives a tool call whose id an earlier model call of the run used (a provider numbering calls afresh) an id of its own, in events and storage', async () => {
    const reusing = () =>
      fakeModel()
        .respondWithTools([{ name: 'calculator', args: { expression: '1 + 1' }, id: 'call_0' }])
        .respondWithTools([{ name: 'calculator', args: { expression: '2 + 1' }, id: 'call_0' }])
        .respond(new AIMessage('2, then 3.'));
    const sequence = (events: { type: string; tool_call_id?: unknown; delta?: unknown; result?: unknown }[]) =>
      events.filter((e) => e.type.startsWith('TOOL_CALL')).map((e) => [e.type, e.tool_call_id, e.delta ?? e.result ?? null]);
    const expected = [
      ['TOOL_CALL_START', 'call_0', null],
      ['TOOL_CALL_ARGS', 'call_0', '{"expression":"1 + 1"}'],
      ['TOOL_CALL_END', 'call_0', null],
      ['TOOL_CALL_RESULT', 'call_0', '2'],
      ['TOOL_CALL_START', 'call_0~2', null],
      ['TOOL_CALL_ARGS', 'call_0~2', '{"expression":"2 + 1"}'],
      ['TOOL_CALL_END', 'call_0~2', null],
      ['TOOL_CALL_RESULT', 'call_0~2', '3'],
    ];

    models.model = reusing();
    const res = await chat(alice, { message: '1+1, then 2+1?' });
    expect(res.status).toBe(200);
    expect(sequence(res.body.events)).toEqual(expected);
    const stored = await db.query<{ role: string; tool_calls: { id: string }[] | null; tool_call_id: string | null }[]>(
      `SELECT role, tool_calls, tool_call_id FROM agent_chat_messages WHERE session_id = $1 ORDER BY seq`,
      [res.body.session_id],
    );
    expect(stored.map((m) => [m.role, m.tool_calls?.map((c) => c.id) ?? null, m.tool_call_id])).toEqual([
      ['user', null, null],
      ['assistant', ['call_0'], null],
      ['tool', null, 'call_0'],
      ['assistant', ['call_0~2'], null],
      ['tool', null, 'call_0~2'],
      ['assistant', null, null],
    ]);

    models.model = reusing();
    const sse = await chat(alice, { message: 'again, live' }, { accept: 'text/event-stream' });
    expect(sequence(parseSse(sse.text).map((e) => e.data as never))).toEqual(expected);
  });

  it('reports a failing tool with `error` and lets the model answer', async () => {
    models.model = fakeModel()
      .respondWithTools([{ name: 'calculator', args: { expression: '1 / 0' }, id: 'c1' }])
      .respond(new AIMessage('That cannot be computed.'));
    const res = await chat(alice, { message: '1/0?' });
    expect(res.status).toBe(200);
    expect(res.body.events.find((e) => e.type === 'TOOL_CALL_RESULT')).toEqual({
      type: 'TOOL_CALL_RESULT',
      tool_call_id: 'c1',
      tool_name: 'calculator',
      result: 'Tool calculator failed: division by zero.',
      error: 'invalid_input',
    });
  });

  it('answers a call of a tool the model made up, with a name and id longer than the columns hold, and stores the run', async () => {
    const name = 'x'.repeat(100);
    const id = `call_${'i'.repeat(200)}`;
    models.model = fakeModel()
      .respondWithTools([{ name, args: {}, id }])
      .respond(new AIMessage('No such tool, sorry.'));
    const res = await chat(alice, { message: 'use your secret tool' });
    expect(res.status).toBe(200);
    expect(res.body.output).toBe('No such tool, sorry.');
    const start = res.body.events.find((e) => e.type === 'TOOL_CALL_START');
    const result = res.body.events.find((e) => e.type === 'TOOL_CALL_RESULT');
    expect(String(start?.tool_name).length).toBeLessThanOrEqual(64);
    expect(String(start?.tool_call_id).length).toBeLessThanOrEqual(128);
    expect(result).toEqual({
      type: 'TOOL_CALL_RESULT',
      tool_call_id: start?.tool_call_id,
      tool_name: start?.tool_name,
      result: expect.any(String),
      error: 'unknown_tool',
    });
    expect((await runsOf(res.body.session_id))[0]).toMatchObject({ status: 'succeeded', tool_calls: 1 });
    const stored = await db.query<{ role: string; tool_call_id: string | null; tool_name: string | null }[]>(
      `SELECT role, tool_call_id, tool_name FROM agent_chat_messages WHERE session_id = $1 ORDER BY seq`,
      [res.body.session_id],
    );
    expect(stored.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(stored[2]).toEqual({ role: 'tool', tool_call_id: start?.tool_call_id, tool_name: start?.tool_name });
  });

  it('counts calls with invalid arguments toward the budget, as every other call', async () => {
    models.model = fakeModel()
      .respondWithTools([{ name: 'calculator', args: { expression: 42 }, id: 'bad_args' }])
      .respond(new AIMessage('That did not work.'));
    const res = await chat(alice, { message: 'compute something odd' });
    expect(res.status).toBe(200);
    expect(res.body.events.find((e) => e.type === 'TOOL_CALL_RESULT')).toMatchObject({
      tool_call_id: 'bad_args',
      tool_name: 'calculator',
      error: 'invalid_input',
    });
    expect((await runsOf(res.body.session_id))[0]).toMatchObject({ status: 'succeeded', tool_calls: 1 });
  });

  it('continues a session: the second run sees the first exchange', async () => {
    models.model = new FakeListChatModel({ responses: ['Noted: blue.'] });
    const first = await chat(alice, { message: 'My favourite colour is blue.' });
    const model = fakeModel().respond(new AIMessage('Blue.'));
    models.model = model;
    const second = await chat(alice, { message: 'What is my favourite colour?', session_id: first.body.session_id });
    expect(second.status).toBe(200);
    expect(second.body.session_id).toBe(first.body.session_id);
    const seen = model.calls[0]?.messages.map((m) => `${m.getType()}:${m.text}`);
    expect(seen).toEqual(
      expect.arrayContaining(['human:My favourite colour is blue.', 'ai:Noted: blue.', 'human:What is my favourite colour?']),
    );
    expect((await messagesOf(first.body.session_id)).map((m) => m.content)).toEqual([
      'My favourite colour is blue.',
      'Noted: blue.',
      'What is my favourite colour?',
      'Blue.',
    ]);
  });

  it('opens a run with a commit that does not wait for the disk and closes it with one that does', async () => {
    // Pass-through spy (every query still runs): which statements each connection sent, in order.
    const spy = jest.spyOn(Client.prototype, 'query');
    let calls: { args: unknown[]; client: unknown }[];
    try {
      models.model = new FakeListChatModel({ responses: ['one', 'two'] });
      const first = await chat(alice, { message: 'first' }); // new session: one statement
      const second = await chat(alice, { message: 'second', session_id: first.body.session_id }); // a function call
      expect([first.status, second.status]).toEqual([200, 200]);
    } finally {
      calls = spy.mock.calls.map((args, i) => ({ args, client: spy.mock.contexts[i] as unknown })); // mockRestore clears them
      spy.mockRestore();
    }
    const sent = calls.map(({ args: [query], client }) => ({
      client,
      text: typeof query === 'string' ? query : String((query as { text?: unknown }).text),
    }));
    const asyncCommit = /set_config\('synchronous_commit', 'off', true\)/;
    const opens = sent.filter((q) => /INSERT INTO "?agent_chat_runs"?|FROM agent_chat_open_run\(/.test(q.text));
    expect(opens).toHaveLength(2);
    // The new session's statement sets it for its own implicit transaction.
    expect(opens[0]!.text).toMatch(/INSERT INTO agent_chat_runs/);
    expect(opens[0]!.text).toMatch(asyncCommit);
    // The continued session's opening is one statement in its own implicit transaction (no
    // transaction around it on its connection), and the function it calls sets it before
    // inserting the run.
    expect(opens[1]!.text).toMatch(/FROM agent_chat_open_run\(/);
    const ownConnection = sent.filter((q) => q.client === opens[1]!.client).map((q) => q.text);
    expect(ownConnection).not.toContain('START TRANSACTION');
    const [definition] = await db.query<{ def: string }[]>(`SELECT pg_get_functiondef('agent_chat_open_run'::regproc) AS def`);
    const body = definition!.def;
    expect(body).toMatch(asyncCommit);
    expect(body.search(asyncCommit)).toBeLessThan(body.indexOf('INSERT INTO agent_chat_runs'));
    // Closing both runs waits for the disk: the answer is only sent once it is stored.
    const closes = sent.filter((q) => /UPDATE agent_chat_runs\s+SET status = \$6/.test(q.text));
    expect(closes).toHaveLength(2);
    for (const close of closes) expect(close.text).not.toMatch(/synchronous_commit/);
  });

  it('creates a session with the given id when it is unknown', async () => {
    models.model = new FakeListChatModel({ responses: ['ok'] });
    const sessionId = randomUUID();
    const res = await chat(alice, { message: 'new', session_id: sessionId });
    expect(res.status).toBe(200);
    expect(res.body.session_id).toBe(sessionId);
  });

  it('lets one of several first messages to the same new session id in, and gives the session to its first owner', async () => {
    const sessionId = randomUUID();
    const model = new GatedModel('Mine', '.');
    models.model = model;
    // Alice's messages race to create the session; Bob's arrive at the same time and must not get in.
    const settled: number[] = [];
    const answers = [alice, alice, alice, bob, bob].map((user, i) =>
      chat(user, { message: `first ${i}`, session_id: sessionId }).then((res) => {
        settled.push(res.status);
        return res;
      }),
    );
    await eventually(() => model.calls === 1 && settled.length === 4);
    model.release();
    const statuses = (await Promise.all(answers)).map((res) => res.status);
    const owner = (await db.query<{ user_id: string }[]>(`SELECT user_id FROM agent_chat_sessions WHERE id = $1`, [sessionId]))[0]?.user_id;
    // Whoever created it owns it: the other user's messages are 404, the owner's other ones 409.
    const [ownerAnswers, otherAnswers] =
      owner === alice.id ? [statuses.slice(0, 3), statuses.slice(3)] : [statuses.slice(3), statuses.slice(0, 3)];
    expect(ownerAnswers.filter((status) => status === 200)).toHaveLength(1);
    expect(ownerAnswers.filter((status) => status !== 200).every((status) => status === 409)).toBe(true);
    expect(otherAnswers.every((status) => status === 404)).toBe(true);
    expect(await runsOf(sessionId)).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it("sends the model a long session's newest messages only, up to the history window, oldest first", async () => {
    const { sessionId } = await sessionWithRunningRun('10 minutes');
    await db.query(`UPDATE agent_chat_runs SET status = 'succeeded' WHERE session_id = $1`, [sessionId]);
    // 60 stored turns, alternating user and assistant: more than the window (40 messages) holds.
    await db.query(
      `INSERT INTO agent_chat_messages (id, session_id, seq, role, content, created_at)
       SELECT gen_random_uuid(), $1, n, CASE WHEN n % 2 = 1 THEN 'user' ELSE 'assistant' END, 'turn ' || n, now()
         FROM generate_series(1, 60) AS n`,
      [sessionId],
    );
    const model = fakeModel().respond(new AIMessage('Done.'));
    models.model = model;
    const res = await chat(alice, { message: 'and now?', session_id: sessionId });
    expect(res.status).toBe(200);
    const seen = model.calls[0]!.messages.filter((m) => m.getType() !== 'system').map((m) => m.text);
    // 39 stored messages and the new one fit; the window then starts at a user message (turn 23).
    expect(seen).toEqual([...Array.from({ length: 38 }, (_, i) => `turn ${i + 23}`), 'and now?']);
  });

  it('takes `session_id: null` as absent: a new session (the fuzzer found a 500 here)', async () => {
    models.model = new FakeListChatModel({ responses: ['fresh'] });
    const res = await chat(alice, { message: 'start over', session_id: null });
    expect(res.status).toBe(200);
    expect(res.body.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await messagesOf(res.body.session_id)).toEqual([
      { role: 'user', content: 'start over' },
      { role: 'assistant', content: 'fresh' },
    ]);
  });

  it("answers 404 for another user's session, and leaves it untouched", async () => {
    models.model = new FakeListChatModel({ responses: ['secret'] });
    const mine = await chat(alice, { message: 'private' });
    const res = await chat(bob, { message: 'let me in', session_id: mine.body.session_id });
    expectProblem(res, 404, 'session_not_found', '/api/v1/agent-chats');
    const sse = await chat(bob, { message: 'let me in', session_id: mine.body.session_id }, { accept: 'text/event-stream' });
    expectProblem(sse, 404, 'session_not_found');
    expect(await messagesOf(mine.body.session_id)).toHaveLength(2);
    expectProblem(
      await request(t.url, 'GET', `/api/v1/agent-chats/${mine.body.session_id}`, { token: bob.accessToken }),
      404,
      'session_not_found',
    );
  });

  it.each([
    ['missing message', {}, 'message'],
    ['empty message', { message: '' }, 'message'],
    ['too long message', { message: 'x'.repeat(8001) }, 'message'],
    ['message not a string', { message: 42 }, 'message'],
    ['session_id not a UUID', { message: 'hi', session_id: 'abc' }, 'session_id'],
    ['unknown field', { message: 'hi', user_id: 'someone' }, 'user_id'],
  ])('answers 422 for %s, also when SSE is asked for', async (_name, body, field) => {
    const variants: Record<string, string>[] = [{}, { accept: 'text/event-stream' }];
    for (const headers of variants) {
      const problem = expectProblem(await chat(alice, body, headers), 422, 'validation_failed');
      expect(problem.errors?.map((e) => e.field)).toContain(field);
    }
  });

  it('accepts a message of exactly 8000 characters', async () => {
    models.model = new FakeListChatModel({ responses: ['long'] });
    expect((await chat(alice, { message: 'x'.repeat(8000) })).status).toBe(200);
  });

  it('answers 401 without a valid token', async () => {
    expectProblem(await request(t.url, 'POST', '/api/v1/agent-chats', { body: { message: 'hi' } }), 401, 'unauthenticated');
    expectProblem(await request(t.url, 'POST', '/api/v1/agent-chats', { body: { message: 'hi' }, token: 'nope' }), 401, 'invalid_token');
    expectProblem(await request(t.url, 'GET', '/api/v1/agent-chats'), 401, 'unauthenticated');
  });

  it('streams Server-Sent Events in order with sequential ids, ending with RUN_FINISHED', async () => {
    models.model = fakeModel()
      .respondWithTools([{ name: 'current_time', args: { time_zone: 'Asia/Shanghai' }, id: 't1' }])
      .respond(new AIMessage('It is late.'));
    const res = await fetch(`${t.url}/api/v1/agent-chats`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message: 'What time is it in Shanghai?' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const events = parseSse(await res.text());
    // fakeModel's tool-calling answer also carries text (it echoes the question): a message first.
    expect(events.map((e) => e.event)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'TOOL_CALL_START',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_END',
      'TOOL_CALL_RESULT',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(JSON.parse(String(events[7]?.data.result))).toMatchObject({ time_zone: 'Asia/Shanghai' });
    expect(events[11]?.data).toMatchObject({ output: 'It is late.' });
  });

  it('streams text deltas as they are produced', async () => {
    models.model = new FakeListChatModel({ responses: ['abc'] });
    const res = await chat(alice, { message: 'stream please' }, { accept: 'text/event-stream' });
    expect(res.headers.get('cache-control')).toBe('no-store, no-transform');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const events = parseSse(res.text);
    expect(events.filter((e) => e.event === 'TEXT_MESSAGE_CONTENT').map((e) => e.data.delta)).toEqual(['a', 'b', 'c']);
    expect(events[events.length - 1]?.data).toMatchObject({ type: 'RUN_FINISHED', output: 'abc' });
  });

  it("streams a retried model call as a new message: the failed attempt's text is closed and left out of the output", async () => {
    const model = new ScriptedStreamModel([
      ['Hel', new Error('stream broke')],
      ['Hel', 'lo'],
    ]);
    models.model = model;
    const res = await chat(alice, { message: 'greet me' }, { accept: 'text/event-stream' });
    const events = parseSse(res.text);
    const starts = events.filter((e) => e.event === 'TEXT_MESSAGE_START').map((e) => String(e.data.message_id));
    expect(starts).toHaveLength(2);
    const [failed, retry] = starts;
    const textOf = (id: string | undefined): string =>
      events
        .filter((e) => e.event === 'TEXT_MESSAGE_CONTENT' && e.data.message_id === id)
        .map((e) => String(e.data.delta))
        .join('');
    expect([textOf(failed), textOf(retry)]).toEqual(['Hel', 'Hello']);
    // The failed attempt's message is closed before the retry's starts.
    expect(events.slice(1, 7).map((e) => [e.event, e.data.message_id])).toEqual([
      ['TEXT_MESSAGE_START', failed],
      ['TEXT_MESSAGE_CONTENT', failed],
      ['TEXT_MESSAGE_END', failed],
      ['TEXT_MESSAGE_START', retry],
      ['TEXT_MESSAGE_CONTENT', retry],
      ['TEXT_MESSAGE_CONTENT', retry],
    ]);
    expect(events.at(-1)?.data).toMatchObject({ type: 'RUN_FINISHED', output: 'Hello' });
    const runId = String(events[0]?.data.run_id);
    const sessionId = String(events[0]?.data.session_id);
    expect(await messagesOf(sessionId)).toEqual([
      { role: 'user', content: 'greet me' },
      { role: 'assistant', content: 'Hello' },
    ]);
    const [stored] = await db.query<{ id: string }[]>(`SELECT id FROM agent_chat_messages WHERE run_id = $1 AND role = 'assistant'`, [
      runId,
    ]);
    expect(stored?.id).toBe(retry);
    expect(model.signals[0]?.aborted).toBe(true);
  });

  it('aborts the run when the SSE client disconnects: the model call is cancelled, no further call, run aborted', async () => {
    const model = new GatedModel('Thinking', ' never sent');
    models.model = model;
    const sessionId = randomUUID();
    const client = new AbortController();
    const res = await fetch(`${t.url}/api/v1/agent-chats`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message: 'take your time', session_id: sessionId }),
      signal: client.signal,
    });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('TEXT_MESSAGE_CONTENT')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString('utf8');
    }
    client.abort();
    await eventually(async () => (await runsOf(sessionId))[0]?.status === 'aborted');
    expect(model.aborted).toBe(1);
    expect(model.calls).toBe(1);
    expect((await runsOf(sessionId))[0]).toMatchObject({ status: 'aborted', error_code: 'aborted' });
    expect(await messagesOf(sessionId)).toEqual([{ role: 'user', content: 'take your time' }]);
  });

  it('aborts the run when the SSE client left while the run was being opened', async () => {
    models.model = new FakeListChatModel({ responses: ['first'] });
    const sessionId = (await chat(alice, { message: 'open a session' })).body.session_id;
    const model = new GatedModel('Never', ' sent');
    models.model = model;
    // Which responses the server saw closed (a listener beside the app's own, same objects).
    const server = t.app.getHttpServer();
    const closed: string[] = [];
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      res.on('close', () => closed.push(`${req.method} ${req.url}`));
    };
    server.on('request', onRequest);
    // Another transaction holds the session row, so opening the run waits for it.
    const holder = new Client({ connectionString: t.config.database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM agent_chat_sessions WHERE id = $1 FOR UPDATE`, [sessionId]);
      // node:http, whose destroy() closes the connection at once (an aborted fetch of this
      // process leaves the server's side of it open, and the app could not close).
      const client = httpRequest(`${t.url}/api/v1/agent-chats`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      });
      client.on('error', () => undefined); // the destroy below
      client.end(JSON.stringify({ message: 'anyone?', session_id: sessionId }));
      await eventually(
        async () =>
          (
            await db.query<unknown[]>(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM agent_chat_open_run(%'`,
            )
          ).length > 0,
      );
      client.destroy();
      await eventually(() => closed.includes('POST /api/v1/agent-chats')); // gone before the run is open
      await holder.query('COMMIT');
    } finally {
      server.off('request', onRequest);
      await holder.end();
    }
    await eventually(async () => (await runsOf(sessionId)).at(-1)?.status === 'aborted');
    expect((await runsOf(sessionId)).at(-1)).toMatchObject({ status: 'aborted', error_code: 'aborted' });
    expect(model.calls).toBe(model.aborted); // a model call, if any began, was cancelled
  });

  it('answers 409 run_in_progress to a second message while a run is going, then accepts one after', async () => {
    const model = new GatedModel('Working', ' done.');
    models.model = model;
    const sessionId = randomUUID();
    const first = chat(alice, { message: 'first', session_id: sessionId });
    await eventually(() => model.calls === 1);
    expectProblem(await chat(alice, { message: 'second', session_id: sessionId }), 409, 'run_in_progress');
    model.release();
    const done = await first;
    expect(done.status).toBe(200);
    expect(done.body.output).toBe('Working done.');
    models.model = new FakeListChatModel({ responses: ['third ok'] });
    expect((await chat(alice, { message: 'third', session_id: sessionId })).status).toBe(200);
    expect((await messagesOf(sessionId)).map((m) => m.content)).toEqual(['first', 'Working done.', 'third', 'third ok']);
  });

  it('answers 502 model_error for a failing model, keeping the user message and recording the run failed', async () => {
    models.model = fakeModel().alwaysThrow(new Error('internal provider stack trace secret'));
    const sessionId = randomUUID();
    const res = await chat(alice, { message: 'fail please', session_id: sessionId });
    const problem = expectProblem(res, 502, 'model_error');
    expect(res.text).not.toContain('secret');
    expect(problem.detail).toBeTruthy();
    expect(await runsOf(sessionId)).toEqual([expect.objectContaining({ status: 'failed', error_code: 'model_error' })]);
    expect(await messagesOf(sessionId)).toEqual([{ role: 'user', content: 'fail please' }]);

    const sse = await chat(
      alice,
      { message: 'fail again', session_id: sessionId },
      { accept: 'text/event-stream', 'accept-language': 'en' },
    );
    expect(sse.status).toBe(200);
    const events = parseSse(sse.text);
    expect(events.map((e) => e.event)).toEqual(['RUN_STARTED', 'RUN_ERROR']);
    expect(events[1]?.data).toMatchObject({ code: 'model_error', error: 'The model answered with an error. Please try again.' });
  });

  it('ends with RUN_ERROR, never RUN_FINISHED, when the finished run cannot be stored, and frees the session', async () => {
    // A trigger refuses the run's closing statement (its assistant message), as a full disk or a
    // lost connection would.
    const marker = `unstorable ${randomUUID()}`;
    const refuse = `test_refuse_${randomUUID().replace(/-/g, '')}`;
    await db.query(`CREATE FUNCTION ${refuse}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$`);
    await db.query(
      `CREATE TRIGGER ${refuse} BEFORE INSERT ON agent_chat_messages FOR EACH ROW WHEN (NEW.content = '${marker}') EXECUTE FUNCTION ${refuse}()`,
    );
    try {
      models.model = new FakeListChatModel({ responses: [marker] });
      const sessionId = randomUUID();
      const sse = await chat(
        alice,
        { message: 'store this', session_id: sessionId },
        { accept: 'text/event-stream', 'accept-language': 'en' },
      );
      const events = parseSse(sse.text);
      expect(events.map((e) => e.event)).not.toContain('RUN_FINISHED');
      expect(events.slice(-2).map((e) => e.event)).toEqual(['TEXT_MESSAGE_END', 'RUN_ERROR']);
      expect(events.at(-1)?.data).toEqual({
        type: 'RUN_ERROR',
        run_id: events[0]?.data.run_id,
        code: 'internal_error',
        error: 'An unexpected error occurred. Please try again later.',
      });
      expect(await runsOf(sessionId)).toEqual([expect.objectContaining({ status: 'failed', error_code: 'internal_error' })]);
      expect(await messagesOf(sessionId)).toEqual([{ role: 'user', content: 'store this' }]);

      expectProblem(await chat(alice, { message: 'and as JSON', session_id: sessionId }), 500, 'internal_error');
      expect((await runsOf(sessionId)).map((r) => r.status)).toEqual(['failed', 'failed']);

      models.model = new FakeListChatModel({ responses: ['stored fine'] });
      const next = await chat(alice, { message: 'next', session_id: sessionId });
      expect(next.status).toBe(200);
      expect(next.body.output).toBe('stored fine');
    } finally {
      await db.query(`DROP TRIGGER IF EXISTS ${refuse} ON agent_chat_messages`);
      await db.query(`DROP FUNCTION IF EXISTS ${refuse}()`);
    }
  });

  it('answers 503 model_unavailable when the model server cannot be reached', async () => {
    models.model = fakeModel().alwaysThrow(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    const sessionId = randomUUID();
    expectProblem(await chat(alice, { message: 'anyone there?', session_id: sessionId }), 503, 'model_unavailable');
    expect((await runsOf(sessionId))[0]).toMatchObject({ status: 'failed', error_code: 'model_unavailable' });
  });

  it('marks runs left running by a crashed process as failed at start-up', async () => {
    const { sessionId } = await sessionWithRunningRun('10 minutes');
    const { sessionId: recent } = await sessionWithRunningRun('5 seconds');
    await t.app.get(StaleRunSweeper).onApplicationBootstrap(); // again: its timer is already running
    expect(await runsOf(sessionId)).toEqual([expect.objectContaining({ status: 'failed', error_code: 'interrupted' })]);
    expect(await runsOf(recent)).toEqual([expect.objectContaining({ status: 'running' })]); // may still be going elsewhere
  });

  it('fails a run a dead process left running when its owner writes in the session again; nobody else can', async () => {
    const { sessionId, runId: staleRunId } = await sessionWithRunningRun('10 minutes');
    // The periodic sweep (any test app's) must not get there first: it is held as another replica would.
    await withSweepHeld(async () => {
      expectProblem(await chat(bob, { message: 'let me in', session_id: sessionId }), 404, 'session_not_found');
      expect(await runsOf(sessionId)).toEqual([expect.objectContaining({ status: 'running' })]);
    });

    models.model = new FakeListChatModel({ responses: ['back again'] });
    const res = await chat(alice, { message: 'still there?', session_id: sessionId });
    expect(res.status).toBe(200);
    expect(res.body.output).toBe('back again');
    const runs = await db.query<{ id: string; status: string; error_code: string | null }[]>(
      `SELECT id, status, error_code FROM agent_chat_runs WHERE session_id = $1`,
      [sessionId],
    );
    expect(runs).toEqual(
      expect.arrayContaining([
        { id: staleRunId, status: 'failed', error_code: 'interrupted' },
        expect.objectContaining({ status: 'succeeded', error_code: null }),
      ]),
    );
    expect(runs).toHaveLength(2);
  });

  it('lets exactly one of several simultaneous messages into a session with a stale run: the rest 409, none fails', async () => {
    const { sessionId, runId: staleRunId } = await sessionWithRunningRun('10 minutes');
    const model = new GatedModel('Only', ' me.');
    models.model = model;
    // Each open locks the session, then sweeps: no two can deadlock (which would surface as a 500 after a second).
    const settled: number[] = [];
    const answers = Array.from({ length: 6 }, (_, i) =>
      chat(alice, { message: `race ${i}`, session_id: sessionId }).then((res) => {
        settled.push(res.status);
        return res;
      }),
    );
    // One run reaches the (held) model; every other message is refused while it runs.
    await eventually(() => model.calls === 1 && settled.length === 5);
    expect(settled).toEqual([409, 409, 409, 409, 409]);
    model.release();
    expect((await Promise.all(answers)).filter((res) => res.status === 200)).toHaveLength(1);
    expect(model.calls).toBe(1);
    const runs = await db.query<{ id: string; status: string }[]>(`SELECT id, status FROM agent_chat_runs WHERE session_id = $1`, [
      sessionId,
    ]);
    expect(runs).toEqual(expect.arrayContaining([{ id: staleRunId, status: 'failed' }, expect.objectContaining({ status: 'succeeded' })]));
    expect(runs).toHaveLength(2);
    expect((await messagesOf(sessionId)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('keeps a session whose run is still going (not stale) busy: 409, and the run untouched', async () => {
    const { sessionId } = await sessionWithRunningRun('0 seconds');
    expectProblem(await chat(alice, { message: 'me too', session_id: sessionId }), 409, 'run_in_progress');
    expect(await runsOf(sessionId)).toEqual([expect.objectContaining({ status: 'running' })]);
    expect(await messagesOf(sessionId)).toEqual([]);
  });

  it('lists my sessions newest first with a cursor, and shows one session’s messages (extensions)', async () => {
    const carol = await createUser(t);
    models.model = new FakeListChatModel({ responses: ['r'] });
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) ids.push((await chat(carol, { message: text })).body.session_id);
    const page1 = await request<{ items: { session_id: string; title: string }[]; next_cursor: string | null }>(
      t.url,
      'GET',
      '/api/v1/agent-chats?limit=2',
      {
        token: carol.accessToken,
      },
    );
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((s) => s.title)).toEqual(['three', 'two']);
    const page2 = await request<{ items: { session_id: string }[]; next_cursor: string | null }>(
      t.url,
      'GET',
      `/api/v1/agent-chats?limit=2&cursor=${page1.body.next_cursor}`,
      { token: carol.accessToken },
    );
    expect(page2.body).toEqual({ items: [expect.objectContaining({ session_id: ids[0] })], next_cursor: null });
    const detail = await request<{ session_id: string; messages: { role: string; content: string }[] }>(
      t.url,
      'GET',
      `/api/v1/agent-chats/${ids[0]}`,
      {
        token: carol.accessToken,
      },
    );
    expect(detail.status).toBe(200);
    expect(detail.body.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'one'],
      ['assistant', 'r'],
    ]);

    // Sessions sharing one instant, written with microseconds (as a writer other than the app could):
    // each is listed exactly once across pages, and the list reads the index in order, no sort.
    const dave = await createUser(t);
    const same = Array.from({ length: 5 }, () => randomUUID());
    await db.query(
      `INSERT INTO agent_chat_sessions (id, user_id, title, created_at, updated_at)
       SELECT id, $2, 'tie', now(), '2026-01-01 00:00:00.123456+00' FROM unnest($1::uuid[]) id`,
      [same, dave.id],
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    const queries = await captureQueries(db, async () => {
      do {
        const page: ApiResponse<{ items: { session_id: string }[]; next_cursor: string | null }> = await request(
          t.url,
          'GET',
          `/api/v1/agent-chats?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          { token: dave.accessToken },
        );
        seen.push(...page.body.items.map((i) => i.session_id));
        cursor = page.body.next_cursor;
      } while (cursor);
    });
    expect(seen).toEqual([...same].sort().reverse());
    const list = queries.find((q) => q.sql.includes('FROM "agent_chat_sessions"') && q.sql.includes('ORDER BY'))!;
    const plan = await planOf(db, list);
    expect(plan).toMatch(/Index Scan using ix_agent_chat_sessions_user_updated/);
    expect(plan).not.toMatch(/Sort/);
    expectProblem(await request(t.url, 'GET', '/api/v1/agent-chats?limit=0', { token: carol.accessToken }), 422, 'validation_failed');
    expectProblem(await request(t.url, 'GET', '/api/v1/agent-chats?cursor=bogus', { token: carol.accessToken }), 422, 'validation_failed');
    expectProblem(await request(t.url, 'GET', '/api/v1/agent-chats/not-a-uuid', { token: carol.accessToken }), 422, 'validation_failed');
  });
});

describe('agent chat stale-run sweep', () => {
  const models = new SwitchableModelFactory();
  let t: TestApp;
  let db: DataSource;
  let user: TestUser;

  beforeAll(async () => {
    // A sweep every 100 ms instead of every minute; otherwise the app as deployed.
    t = await createTestApp(
      {},
      { override: (b) => overrideModel(models).override(b).overrideProvider(STALE_RUN_SWEEP_INTERVAL_MS).useValue(100) },
    );
    db = t.app.get(DataSource);
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const runWith = async (startedAgo: string): Promise<string> => {
    const sessionId = randomUUID();
    const runId = randomUUID();
    await db.query(`INSERT INTO agent_chat_sessions (id, user_id, title) VALUES ($1, $2, 'left running')`, [sessionId, user.id]);
    await db.query(
      `INSERT INTO agent_chat_runs (id, session_id, user_id, status, provider, model, started_at) VALUES ($1, $2, $3, 'running', 'fake', 'x', now() - $4::interval)`,
      [runId, sessionId, user.id, startedAgo],
    );
    return runId;
  };
  const runOf = async (runId: string) =>
    (
      await db.query<{ status: string; error_code: string | null }[]>(`SELECT status, error_code FROM agent_chat_runs WHERE id = $1`, [
        runId,
      ])
    )[0];

  it('marks a run a crashed process left running failed while the app runs, not only at start-up', async () => {
    // Beyond the threshold (run timeout + 30 s: 90 s) after the app started, as a pod that
    // restarted within seconds leaves its runs.
    const stale = await runWith('91 seconds');
    const live = await runWith('80 seconds');
    await eventually(async () => (await runOf(stale))?.status === 'failed');
    expect(await runOf(stale)).toEqual({ status: 'failed', error_code: 'interrupted' });
    expect(await runOf(live)).toEqual({ status: 'running', error_code: null });
  });

  it('a run the sweep failed while it was still going (a paused process, a lagging clock) keeps that verdict, and its messages stay out of the next run', async () => {
    const slow = new GatedModel('Slow', ' answer.');
    models.model = slow;
    const sessionId = randomUUID();
    const chat = (message: string) =>
      request<{ output: string }>(t.url, 'POST', '/api/v1/agent-chats', {
        token: user.accessToken,
        body: { message, session_id: sessionId },
      });
    const runs = () =>
      db.query<{ status: string; error_code: string | null }[]>(
        `SELECT status, error_code FROM agent_chat_runs WHERE session_id = $1 ORDER BY started_at`,
        [sessionId],
      );
    const first = chat('first');
    await eventually(() => slow.calls === 1);
    // As if it had started long ago: the periodic sweep (every 100 ms here) fails it.
    await db.query(`UPDATE agent_chat_runs SET started_at = now() - interval '10 minutes' WHERE session_id = $1`, [sessionId]);
    await eventually(async () => (await runs())[0]?.status === 'failed');
    models.model = new FakeListChatModel({ responses: ['second answer'] });
    const second = await chat('second');
    expect(second.status).toBe(200);
    expect(second.body.output).toBe('second answer');

    slow.release();
    expectProblem(await first, 500, 'internal_error');
    expect(await runs()).toEqual([
      { status: 'failed', error_code: 'interrupted' },
      { status: 'succeeded', error_code: null },
    ]);
    const messages = await db.query<{ content: string }[]>(`SELECT content FROM agent_chat_messages WHERE session_id = $1 ORDER BY seq`, [
      sessionId,
    ]);
    expect(messages.map((m) => m.content)).toEqual(['first', 'second', 'second answer']);
  });

  it('leaves the sweep to the replica that holds it', async () => {
    const sweeper = t.app.get(StaleRunSweeper);
    const other = new Client({ connectionString: t.config.database.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [STALE_RUN_SWEEP_LOCK]);
      const stale = await runWith('10 minutes');
      expect(await sweeper.sweep()).toBeNull();
      expect(await runOf(stale)).toMatchObject({ status: 'running' });
      await other.query('COMMIT');
      await eventually(async () => (await runOf(stale))?.status === 'failed');
    } finally {
      await other.end();
    }
  });
});
