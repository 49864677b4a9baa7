import type { OpenAPIObject } from '@nestjs/swagger';
import type { ResponseObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { randomIp } from './support/auth';
import { request } from './support/http';
import { createTestApp, type TestApp } from './support/test-app';
import { createUser, type TestUser } from './support/users';

type Method = 'get' | 'post' | 'patch' | 'delete';

/** Headers of ours a client reads (CORS exposes them too). */
const CLIENT_HEADERS = [
  'x-request-id',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'www-authenticate',
];

/**
 * The OpenAPI document (/api/docs-json) against real answers: the web client's code is generated
 * from it, so each status a route answers must be declared for it, with the media type it comes
 * in and every header the document promises.
 */
describe('OpenAPI document: what the server answers is what it declares', () => {
  let t: TestApp;
  let doc: OpenAPIObject;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_DEFAULT_PER_MINUTE: '3', TRUST_PROXY: 'true' });
    doc = (await request<OpenAPIObject>(t.url, 'GET', '/api/docs-json')).body;
    user = await createUser(t);
  });
  afterAll(async () => {
    await t.close();
  });

  const declared = (method: Method, path: string, status: number): ResponseObject | undefined =>
    doc.paths[path]?.[method]?.responses[String(status)] as ResponseObject | undefined;

  /** Sends one request and checks its answer against the document; returns the status for the caller's own expectation. */
  const answer = async (
    method: Method,
    template: string,
    init: { path?: string; body?: unknown; raw?: string; contentType?: string; token?: string; accept?: string; ip?: string },
  ): Promise<number> => {
    const res = await fetch(`${t.url}${init.path ?? template}`, {
      method: method.toUpperCase(),
      headers: {
        'x-forwarded-for': init.ip ?? randomIp(),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.accept ? { accept: init.accept } : {}),
        ...(init.body !== undefined || init.raw !== undefined ? { 'content-type': init.contentType ?? 'application/json' } : {}),
      },
      body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    });
    await res.arrayBuffer();
    const response = declared(method, template, res.status);
    const where = `${method.toUpperCase()} ${template} → ${res.status}`;
    expect({ where, declared: response !== undefined }).toEqual({ where, declared: true });
    const mediaType = res.headers.get('content-type')?.split(';')[0];
    if (response?.content && mediaType)
      expect({ where, mediaType, declared: Object.keys(response.content) }).toEqual({
        where,
        mediaType,
        declared: expect.arrayContaining([mediaType]),
      });
    // Both ways: each header it declares is sent, and each of ours the client may need is declared.
    const declaredHeaders = Object.keys(response?.headers ?? {});
    const missing = declaredHeaders.filter((name) => res.headers.get(name) === null);
    const undeclared = CLIENT_HEADERS.filter(
      (name) => res.headers.get(name) !== null && !declaredHeaders.some((d) => d.toLowerCase() === name),
    );
    expect({ where, missing, undeclared }).toEqual({ where, missing: [], undeclared: [] });
    return res.status;
  };

  it('every route: its success and its common errors are declared with their media types and headers', async () => {
    expect(await answer('get', '/api/v1/health', {})).toBe(200);
    expect(await answer('get', '/api/v1/infra/health', {})).toBe(200);
    expect(await answer('get', '/api/v1/users/me', { token: user.accessToken })).toBe(200);
    expect(await answer('get', '/api/v1/users/me', {})).toBe(401);
    expect(await answer('get', '/api/v1/users/{username}', { path: '/api/v1/users/nobody_here_1', token: user.accessToken })).toBe(404);
    expect(await answer('patch', '/api/v1/users/me', { body: {}, token: user.accessToken })).toBe(422);
    expect(await answer('post', '/api/v1/auth/sessions', { body: { email: user.email, password: 'wrong-password' } })).toBe(401);
    expect(await answer('post', '/api/v1/auth/sessions', { body: { email: user.email } })).toBe(422);
    expect(await answer('post', '/api/v1/auth/sessions', { raw: '{"email":', contentType: 'application/json' })).toBe(400);
    expect(await answer('post', '/api/v1/auth/sessions', { raw: 'email=a', contentType: 'text/plain' })).toBe(415);
    expect(await answer('post', '/api/v1/auth/sessions', { raw: JSON.stringify({ email: 'x'.repeat(70_000) }) })).toBe(413);
    expect(await answer('delete', '/api/v1/auth/sessions', { body: { refresh_token: 'unknown' } })).toBe(204);
    expect(await answer('get', '/api/v1/auth/users', { path: '/api/v1/auth/users?email=a@example.test', token: user.accessToken })).toBe(
      403,
    );
    expect(await answer('post', '/api/v1/agent-chats', { body: { message: 'hello' }, token: user.accessToken })).toBe(200);
    expect(
      await answer('post', '/api/v1/agent-chats', { body: { message: 'hello' }, token: user.accessToken, accept: 'text/event-stream' }),
    ).toBe(200);
    expect(await answer('get', '/api/v1/agent-chats', { token: user.accessToken })).toBe(200);
  });

  it('429 from the shared per-IP budget, with Retry-After and the budget headers', async () => {
    const ip = randomIp();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await answer('get', '/api/v1/users/me', { token: user.accessToken, ip }));
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('request bodies refuse unknown fields, as the validation pipe does', () => {
    const bodies = Object.values(doc.paths)
      .flatMap((item) => [item.post, item.patch, item.delete, item.put])
      .map(
        (op) =>
          (op?.requestBody as { content?: Record<string, { schema?: { $ref?: string } }> } | undefined)?.content?.['application/json']
            ?.schema?.$ref,
      )
      .filter((ref): ref is string => ref !== undefined)
      .map((ref) => ref.split('/').at(-1)!);
    expect(bodies.length).toBeGreaterThanOrEqual(7);
    for (const name of bodies) {
      const schema = doc.components!.schemas![name] as SchemaObject;
      expect({ name, additionalProperties: schema.additionalProperties }).toEqual({ name, additionalProperties: false });
    }
  });
});
