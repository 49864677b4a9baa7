import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { parseSse } from './agent-chat.fixtures';
import { eventually, expectProblem, request } from './support/http';
import { startMailbox, type Mailbox } from './support/mailbox';
import { createTestApp, type TestApp } from './support/test-app';
import { createUser, type TestUser } from './support/users';

jest.setTimeout(30_000);

interface ChatCompletionRequest {
  model: string;
  stream?: boolean;
  messages: {
    role: string;
    content: string | null;
    tool_call_id?: string;
    tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  }[];
  tools?: { type: string; function: { name: string } }[];
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1, model: 'local-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const usage = (prompt: number, completion: number) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1, model: 'local-model', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`;

/**
 * A tiny OpenAI-compatible server (the chat-completions protocol, streaming): the first call
 * answers with a streamed tool call to the calculator, the call after the tool result streams
 * the answer. A message containing "explode" gets an HTTP 500. A message containing "stall" gets,
 * the first time, a stream that sends "Hel" and then nothing, and "Hello" after that, its end
 * 200 ms later; `log` tells in which order the stalled stream was closed and the next one ended.
 */
function startFakeOpenAi(): Promise<{
  server: Server;
  url: string;
  requests: { path: string; body: ChatCompletionRequest }[];
  log: string[];
}> {
  const requests: { path: string; body: ChatCompletionRequest }[] = [];
  const log: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(raw) as ChatCompletionRequest;
      requests.push({ path: req.url ?? '', body });
      const last = body.messages[body.messages.length - 1];
      if (body.stream !== true && !String(last?.content ?? '').includes('explode')) {
        // A whole-message call (a JSON answer): the same conversation, not streamed.
        const message =
          last?.role === 'tool'
            ? { role: 'assistant', content: `The answer is ${last.content}.` }
            : {
                role: 'assistant',
                content: null,
                tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'calculator', arguments: '{"expression":"6 * 7"}' } }],
              };
        const finish = last?.role === 'tool' ? 'stop' : 'tool_calls';
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-test',
            object: 'chat.completion',
            created: 1,
            model: 'local-model',
            choices: [{ index: 0, message, finish_reason: finish }],
            usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
          }),
        );
        return;
      }
      if (String(last?.content ?? '').includes('explode')) {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (last?.role === 'user' && String(last.content).includes('stall')) {
        res.write(chunk({ role: 'assistant', content: 'Hel' }));
        if (!log.includes('stalled')) {
          log.push('stalled');
          res.on('close', () => log.push('stalled stream closed'));
          return;
        }
        setTimeout(() => {
          res.write(chunk({ content: 'lo' }));
          res.write(chunk({}, 'stop'));
          res.end('data: [DONE]\n\n');
          log.push('retry answered');
        }, 200);
        return;
      } else if (last?.role === 'tool') {
        res.write(chunk({ role: 'assistant', content: '' }));
        for (const piece of ['The answer ', 'is ', `${last.content}.`]) res.write(chunk({ content: piece }));
        res.write(chunk({}, 'stop'));
        res.write(usage(40, 6));
      } else {
        res.write(
          chunk({
            role: 'assistant',
            content: null,
            tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'calculator', arguments: '' } }],
          }),
        );
        res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"expression":' } }] }));
        res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '"6 * 7"}' } }] }));
        res.write(chunk({}, 'tool_calls'));
        res.write(usage(30, 10));
      }
      res.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests, log }),
    ),
  );
}

describe('agent chat through the real OpenAI-compatible client (local chat-completions server)', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAi>>;
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    t = await createTestApp({ LLM_PROVIDER: 'openai', LLM_MODEL: 'local-model', LLM_BASE_URL: fake.url, LLM_API_KEY: 'sk-test' });
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
    fake.server.closeAllConnections(); // the client keeps connections alive
    await new Promise((r) => fake.server.close(r));
  });

  it('streams a tool call and the answer over SSE, sends the tool result back, records token usage', async () => {
    const res = await request(t.url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message: 'What is 6 * 7?' },
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    const events = parseSse(res.text);
    expect(events.map((e) => e.event)).toEqual([
      'RUN_STARTED',
      'TOOL_CALL_START',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_END',
      'TOOL_CALL_RESULT',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(events[1]?.data).toMatchObject({ tool_call_id: 'call_abc', tool_name: 'calculator' });
    expect(events[5]?.data).toMatchObject({ tool_call_id: 'call_abc', result: '42' });
    expect(events[11]?.data).toMatchObject({ output: 'The answer is 42.' });

    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
    const [first, second] = fake.requests.map((r) => r.body);
    expect(first).toMatchObject({ model: 'local-model', stream: true });
    expect(first?.tools?.map((x) => x.function.name).sort()).toEqual(['calculator', 'current_time', 'my_profile']);
    expect(second?.messages.slice(-2)).toEqual([
      expect.objectContaining({
        role: 'assistant',
        tool_calls: [expect.objectContaining({ id: 'call_abc', function: expect.objectContaining({ name: 'calculator' }) })],
      }),
      expect.objectContaining({ role: 'tool', tool_call_id: 'call_abc', content: '42' }),
    ]);

    const sessionId = String(events[0]?.data.session_id);
    const runs = await t.app
      .get(DataSource)
      .query<unknown[]>(
        `SELECT status, provider, model, input_tokens, output_tokens, total_tokens, model_calls, tool_calls FROM agent_chat_runs WHERE session_id = $1`,
        [sessionId],
      );
    expect(runs).toEqual([
      {
        status: 'succeeded',
        provider: 'openai',
        model: 'local-model',
        input_tokens: 70,
        output_tokens: 16,
        total_tokens: 86,
        model_calls: 2,
        tool_calls: 1,
      },
    ]);
  });

  it('answers a JSON caller through whole-message calls, with the token usage the server reported (nothing fetched from elsewhere)', async () => {
    const before = fake.requests.length;
    const res = await request<{ session_id: string; output: string; events: { type: string }[] }>(t.url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message: 'What is 6 * 7?' },
    });
    expect(res.status).toBe(200);
    expect(res.body.output).toBe('The answer is 42.');
    expect(res.body.events.map((e) => e.type)).toEqual([
      'RUN_STARTED',
      'TOOL_CALL_START',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_END',
      'TOOL_CALL_RESULT',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(fake.requests.slice(before).map((r) => r.body.stream ?? false)).toEqual([false, false]);
    const [run] = await t.app
      .get(DataSource)
      .query<unknown[]>(
        `SELECT status, input_tokens, output_tokens, total_tokens, model_calls FROM agent_chat_runs WHERE session_id = $1`,
        [res.body.session_id],
      );
    expect(run).toEqual({ status: 'succeeded', input_tokens: 40, output_tokens: 10, total_tokens: 50, model_calls: 2 });
  });

  it('answers 502 model_error when the server answers with an error', async () => {
    const before = fake.requests.length;
    expectProblem(
      await request(t.url, 'POST', '/api/v1/agent-chats', { token: user.accessToken, body: { message: 'please explode' } }),
      502,
      'model_error',
    );
    expect(fake.requests.length - before).toBe(2); // one retry for a server error
  });
});

describe('a model call that times out mid-stream (real OpenAI-compatible client)', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAi>>;
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    t = await createTestApp({
      LLM_PROVIDER: 'openai',
      LLM_MODEL: 'local-model',
      LLM_BASE_URL: fake.url,
      LLM_API_KEY: 'sk-test',
      AGENT_MODEL_TIMEOUT_MS: '1000',
    });
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
    fake.server.closeAllConnections();
    await new Promise((r) => fake.server.close(r));
  });

  it('closes the stalled request and streams the retry as a message of its own', async () => {
    const res = await request(t.url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message: 'stall, then say hello' },
      headers: { accept: 'text/event-stream' },
    });
    const events = parseSse(res.text);
    // The client's own timeout stops at the response headers: only the attempt's abort closes the
    // stalled stream, before the retry (not when the run ends).
    await eventually(() => fake.log.length === 3);
    expect(fake.log).toEqual(['stalled', 'stalled stream closed', 'retry answered']);
    const starts = events.filter((e) => e.event === 'TEXT_MESSAGE_START').map((e) => e.data.message_id);
    const textOf = (id: unknown): string =>
      events
        .filter((e) => e.event === 'TEXT_MESSAGE_CONTENT' && e.data.message_id === id)
        .map((e) => String(e.data.delta))
        .join('');
    expect(starts.map(textOf)).toEqual(['Hel', 'Hello']);
    expect(events.at(-1)?.data).toMatchObject({ type: 'RUN_FINISHED', output: 'Hello' });
  });
});

describe('agent chat with the built-in offline model (LLM_PROVIDER=offline)', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ LLM_PROVIDER: 'offline' });
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const chat = (message: string) =>
    request<{ output: string; events: { type: string; tool_name?: string }[] }>(t.url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message },
    });

  it('calls the calculator for arithmetic', async () => {
    const res = await chat('What is (2 + 3) * 4?');
    expect(res.status).toBe(200);
    expect(res.body.events.find((e) => e.type === 'TOOL_CALL_START')?.tool_name).toBe('calculator');
    expect(res.body.output).toBe('The result is 20.');
  });

  it("calls the profile tool with the caller's identity", async () => {
    const res = await chat('Who am I?');
    expect(res.body.output).toBe(`You are signed in as ${user.username}.`);
  });

  it('answers the time and small talk from its rules', async () => {
    expect((await chat('What time is it in UTC?')).body.output).toMatch(/^It is .+ \(UTC\)\.$/);
    expect((await chat('hello')).body.output).toContain('offline demo model');
  });
});

describe('agent chat with no model configured (production, LLM_PROVIDER unset)', () => {
  let t: TestApp;
  let mailbox: Mailbox;
  let user: TestUser;

  beforeAll(async () => {
    mailbox = await startMailbox();
    // What CONTRACT.md requires in production, and nothing more: the service starts without a model.
    t = await createTestApp({
      NODE_ENV: 'production',
      JWT_SECRET: 'production-like-secret-0123456789abcdef',
      SMTP_URL: mailbox.smtpUrl,
      LLM_PROVIDER: '',
    });
    user = await createUser(t);
  });
  afterAll(async () => {
    await t?.close();
    await mailbox?.stop();
  });

  it('answers 503 model_unavailable, records the run failed and keeps the message; other routes serve', async () => {
    const res = await request<{ session_id?: string }>(t.url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message: 'anyone there?' },
    });
    expectProblem(res, 503, 'model_unavailable', '/api/v1/agent-chats');
    const db = t.app.get(DataSource);
    const runs = await db.query<{ status: string; error_code: string; content: string }[]>(
      `SELECT r.status, r.error_code, m.content FROM agent_chat_runs r JOIN agent_chat_sessions s ON s.id = r.session_id
         JOIN agent_chat_messages m ON m.session_id = s.id WHERE s.user_id = $1`,
      [user.id],
    );
    expect(runs).toEqual([{ status: 'failed', error_code: 'model_unavailable', content: 'anyone there?' }]);
    expect((await request(t.url, 'GET', '/api/v1/users/me', { token: user.accessToken })).status).toBe(200);
  });
});
