/** The few calls the runner makes itself (seeding sessions, checking chains), with fetch. */
export interface TokenResponse {
  readonly access_token: string;
  readonly refresh_token: string;
}

let ipCounter = 0;
/** A different client address per call (block 10.250+): the per-IP auth limits would otherwise trip. */
const nextIp = (): string => {
  ipCounter++;
  return `10.${250 + ((ipCounter >> 16) & 3)}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
};

async function post(baseUrl: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${baseUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': nextIp() },
    body: JSON.stringify(body),
  });
}

export async function login(baseUrl: string, email: string, password: string): Promise<TokenResponse> {
  const res = await post(baseUrl, '/auth/sessions', { email, password });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`login of ${email} failed: ${res.status} ${text}`);
  return JSON.parse(text) as TokenResponse;
}

/** True when the token rotates (200). */
export async function refreshOnce(baseUrl: string, refreshToken: string): Promise<boolean> {
  const res = await post(baseUrl, '/auth/sessions/refresh', { refresh_token: refreshToken });
  await res.arrayBuffer();
  return res.status === 200;
}

/** The `sid` claim of an access token (a JWT: header.payload.signature, base64url). */
export function sessionIdOf(accessToken: string): string {
  const payload = accessToken.split('.')[1] ?? '';
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sid: string }).sid;
}
