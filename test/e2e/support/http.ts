import type { ProblemBody } from '../../../src/common/errors/problem';

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent as-is (no JSON encoding) when a string is wanted on the wire. */
  readonly rawBody?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly token?: string;
}

/** A small fetch wrapper for the listening test app: JSON in, parsed JSON (when any) out. */
export async function request<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text.length > 0 && /json/.test(res.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** Asserts a contract-shaped problem+json answer and returns its body for further checks. */
export function expectProblem(res: ApiResponse, status: number, code: string, path?: string): ProblemBody {
  expect({ status: res.status, code: (res.body as ProblemBody | undefined)?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = res.body as ProblemBody;
  expect(body).toEqual(
    expect.objectContaining({
      type: 'about:blank',
      status,
      code,
      title: expect.any(String),
      detail: expect.any(String),
      instance: expect.any(String),
    }),
  );
  if (path !== undefined) expect(body.instance).toBe(path);
  expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+/); // never a stack trace
  if (status === 422) expect(Array.isArray(body.errors)).toBe(true);
  else expect(body.errors).toBeUndefined();
  if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer');
  if (status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  return body;
}

/** Polls `probe` until it returns true or the deadline passes (no fixed sleeps in tests). */
export async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs = 5000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
