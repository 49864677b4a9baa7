import { connect } from 'node:net';
import { GatedModel, SwitchableModelFactory } from '../../src/modules/agent-chat/llm/testing';
import { overrideModel } from './agent-chat.fixtures';
import { eventually, request } from './support/http';
import { createTestApp, type TestApp } from './support/test-app';
import { createUser, type TestUser } from './support/users';

/** HTTP_REQUEST_TIMEOUT_MS: slow clients lose their connection; slow answers do not. */
describe('request timeout', () => {
  const models = new SwitchableModelFactory();
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ HTTP_REQUEST_TIMEOUT_MS: '1000' }, overrideModel(models));
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  /** Writes `partial` on a raw connection and never more; resolves with what came back once the connection closed, and when. */
  const stall = (partial: string): Promise<{ response: string; closedAfterMs: number }> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect(Number(new URL(t.url).port), '127.0.0.1', () => socket.write(partial));
      // Our own deadline: a server that never closes it fails the test instead of hanging it.
      const deadline = setTimeout(() => socket.destroy(), 10_000);
      let response = '';
      socket.on('data', (chunk) => (response += chunk.toString()));
      socket.on('close', () => {
        clearTimeout(deadline);
        resolve({ response, closedAfterMs: Date.now() - started });
      });
      socket.on('error', reject);
    });

  const expect408 = ({ response, closedAfterMs }: { response: string; closedAfterMs: number }): void => {
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(response).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 408, code: 'request_timeout' });
    // The timeout (1 s) plus at most one of Node's checks (250 ms here), with room for a busy machine.
    expect(closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(closedAfterMs).toBeLessThan(5000);
  };

  it('a body that stops arriving, and headers that never end: 408 problem+json, connection closed', async () => {
    const body = `POST /api/v1/auth/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{"email":`;
    const [trickled, headless] = await Promise.all([stall(body), stall('GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: a')]);
    expect408(trickled);
    expect408(headless);
  });

  it('does not cut an answer that takes longer than the timeout once the request has arrived', async () => {
    const model = new GatedModel('A slow', ' answer.');
    models.model = model;
    const run = request<{ output: string }>(t.url, 'POST', '/api/v1/agent-chats', {
      token: user.accessToken,
      body: { message: 'take your time' },
    });
    await eventually(() => model.calls === 1, 10_000);
    // A request stalled now is answered 408 once the timeout has passed: by then the run, which
    // started before it, has been going for longer than the timeout.
    expect408(await stall('GET /api/v1/health HTTP/1.1\r\nHost: x\r\n'));
    model.release();
    const answer = await run;
    expect({ status: answer.status, output: answer.body.output }).toEqual({ status: 200, output: 'A slow answer.' });
  });
});
