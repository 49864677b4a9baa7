import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { eventually, expectProblem, request } from './support/http';
import { freePort, spawnEnv, startServer, type ServerProcess } from './support/server-process';
import { createTestApp, type TestApp } from './support/test-app';
import { createUser, type TestUser } from './support/users';

const PROMPT = 'my private question XYZZY';
const API_KEY = 'sk-test-SUPERSECRETKEY';

/**
 * An OpenAI-compatible server that refuses every call the way some providers and proxies do:
 * quoting the key it was sent and the prompt in its error message.
 */
function startEchoingProvider(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const message = `Incorrect API key provided: ${req.headers.authorization}; request was ${raw}`;
      res
        .writeHead(401, { 'content-type': 'application/json', 'x-request-id': 'prov-req-123' })
        .end(JSON.stringify({ error: { message, type: 'invalid_request_error', code: 'invalid_api_key' } }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` })),
  );
}

type Line = Record<string, unknown> & { msg?: string; level: number };

/** What on-call reads: the real process's log lines (src/main.ts, LOG_LEVEL=info). */
describe('log lines for on-call', () => {
  let provider: Awaited<ReturnType<typeof startEchoingProvider>>;
  let t: TestApp; // creates the user and signs its token, with the same settings as the process
  let user: TestUser;
  let server: ServerProcess;
  let url: string;

  beforeAll(async () => {
    provider = await startEchoingProvider();
    t = await createTestApp();
    user = await createUser(t);
    const port = await freePort();
    server = startServer(
      { ...spawnEnv(), LOG_LEVEL: 'info', LLM_PROVIDER: 'openai', LLM_MODEL: 'm', LLM_BASE_URL: provider.url, LLM_API_KEY: API_KEY },
      port,
    );
    url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);
  });

  afterAll(async () => {
    if (server?.child.exitCode === null) server.child.kill('SIGKILL');
    await t?.close();
    provider?.server.closeAllConnections();
    await new Promise((r) => provider?.server.close(r));
  });

  const allLines = (): Line[] =>
    server
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{') && l.endsWith('}'))
      .map((l) => JSON.parse(l) as Line);

  /** Every JSON line so far, once one naming `requestId` is out (access lines go in batches, within a second). */
  const linesAfter = async (requestId: string): Promise<Line[]> => {
    await eventually(() => server.stdout().includes(`"request_id":"${requestId}"`), 5_000, 50);
    return allLines();
  };

  it("an access line names the problem code it answered and the caller's user id", async () => {
    expectProblem(await request(url, 'GET', '/api/v1/users/me', { headers: { 'x-request-id': 'req-log-anon' } }), 401, 'unauthenticated');
    expect(
      (await request(url, 'GET', '/api/v1/users/me', { token: user.accessToken, headers: { 'x-request-id': 'req-log-me' } })).status,
    ).toBe(200);
    expectProblem(
      await request(url, 'GET', '/api/v1/users/nobody_here_at_all', {
        token: user.accessToken,
        headers: { 'x-request-id': 'req-log-404' },
      }),
      404,
      'user_not_found',
    );
    await linesAfter('req-log-anon');
    await linesAfter('req-log-me');
    const access = (await linesAfter('req-log-404')).filter((l) => l.msg === 'request completed');
    const byId = (id: string) => access.find((l) => l.request_id === id);
    expect(byId('req-log-anon')).toMatchObject({ code: 'unauthenticated', res: { statusCode: 401 } });
    expect(byId('req-log-anon')).not.toHaveProperty('user_id');
    expect(byId('req-log-me')).toMatchObject({ user_id: user.id, res: { statusCode: 200 } });
    expect(byId('req-log-me')).not.toHaveProperty('code');
    expect(byId('req-log-404')).toMatchObject({ code: 'user_not_found', user_id: user.id, res: { statusCode: 404 } });
  });

  it("a model failure is logged with its run, request and user, and the provider's status and ids, never its text (key, prompt)", async () => {
    const res = await request(url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message: PROMPT },
      headers: { 'x-request-id': 'req-log-run' },
    });
    expectProblem(res, 503, 'model_unavailable');
    // The access line comes in the next batch of access lines, within a second.
    await eventually(() => allLines().some((l) => l.request_id === 'req-log-run' && l.msg === 'request completed'), 5_000, 50);
    const lines = await linesAfter('req-log-run');
    const failed = lines.filter((l) => l.event === 'agent_chat.run_failed');
    expect(failed).toEqual([
      expect.objectContaining({
        level: 40,
        request_id: 'req-log-run',
        user_id: user.id,
        run_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        session_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        failure: expect.objectContaining({
          code: 'model_unavailable',
          message: 'model answered HTTP 401',
          provider_status: 401,
          provider_error_code: 'invalid_api_key',
          provider_error_type: 'invalid_request_error',
          provider_request_id: 'prov-req-123',
        }),
      }),
    ]);
    expect(lines.find((l) => l.request_id === 'req-log-run' && l.msg === 'request completed')).toMatchObject({
      code: 'model_unavailable',
      user_id: user.id,
    });
    const everything = server.stdout() + server.stderr();
    expect(everything).not.toContain('XYZZY');
    expect(everything).not.toContain('SUPERSECRETKEY');
  });

  it("a request refused by Node's HTTP parser (431) is logged with the request id its answer carried", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1');
      let raw = '';
      socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
      socket.on('close', () => resolve(raw));
      socket.on('error', reject);
      socket.write(`GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    const requestId = /x-request-id: ([0-9a-f-]{36})/i.exec(answer)?.[1];
    expect(requestId).toBeDefined();
    const lines = await linesAfter(requestId!);
    expect(lines.filter((l) => l.request_id === requestId)).toEqual([
      expect.objectContaining({ level: 30, event: 'http.request_rejected', code: 'headers_too_large' }),
    ]);
  });
});
