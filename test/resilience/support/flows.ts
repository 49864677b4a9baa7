import { randomBytes } from 'node:crypto';
import { request, type ApiResponse } from '../../e2e/support/http';
import { extractCode, type Mailbox } from '../../e2e/support/mailbox';
import { randomIp, uniqueName } from '../../e2e/support/auth';

export interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly user: { readonly id: string; readonly email: string };
}

export interface Account extends Tokens {
  readonly username: string;
  readonly email: string;
  readonly password: string;
  /** The client address this account's requests come from (X-Forwarded-For). */
  readonly ip: string;
}

export const ip = (value: string = randomIp()): Record<string, string> => ({ 'x-forwarded-for': value });

/**
 * The real signup flow against a spawned server that mails to `mailbox`: signup, the code from the
 * mail, verify. Each account uses its own client IP, so per-IP auth limits stay out of the way.
 */
export async function signUp(baseUrl: string, mailbox: Mailbox, overrides: { username?: string; ip?: string } = {}): Promise<Account> {
  const username = overrides.username ?? uniqueName();
  const email = `${username.toLowerCase()}@example.test`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const client = overrides.ip ?? randomIp();
  const before = mailbox.mailsTo(email).length;
  const signup = await request(baseUrl, 'POST', '/api/v1/auth/verifications', { body: { username, email, password }, headers: ip(client) });
  if (signup.status !== 202) throw new Error(`signup failed: ${signup.status} ${signup.text}`);
  const mail = await mailbox.waitForNth(email, before + 1, 60_000);
  const verify = await request<Tokens>(baseUrl, 'POST', '/api/v1/auth/verifications/verify', {
    body: { email, token: extractCode(mail.text) },
    headers: ip(client),
  });
  if (verify.status !== 200) throw new Error(`verify failed: ${verify.status} ${verify.text}`);
  return { ...verify.body, username, email, password, ip: client };
}

export function login(baseUrl: string, account: Pick<Account, 'email' | 'password' | 'ip'>): Promise<ApiResponse<Tokens>> {
  return request<Tokens>(baseUrl, 'POST', '/api/v1/auth/sessions', {
    body: { email: account.email, password: account.password },
    headers: ip(account.ip),
  });
}

export function refresh(baseUrl: string, refreshToken: string, client: string = randomIp()): Promise<ApiResponse<Tokens>> {
  return request<Tokens>(baseUrl, 'POST', '/api/v1/auth/sessions/refresh', { body: { refresh_token: refreshToken }, headers: ip(client) });
}

export function me(
  baseUrl: string,
  accessToken: string,
  client: string = randomIp(),
): Promise<ApiResponse<{ id: string; username: string }>> {
  return request(baseUrl, 'GET', '/api/v1/users/me', { token: accessToken, headers: ip(client) });
}

export function logout(baseUrl: string, refreshToken: string, client: string = randomIp()): Promise<ApiResponse> {
  return request(baseUrl, 'DELETE', '/api/v1/auth/sessions', { body: { refresh_token: refreshToken }, headers: ip(client) });
}

/** `count` accounts, a few signups at a time (a burst would only measure the test machine's CPU). */
export async function signUpMany(baseUrl: string, mailbox: Mailbox, count: number, parallel = 4): Promise<Account[]> {
  const accounts: Account[] = [];
  while (accounts.length < count) {
    const batch = Math.min(parallel, count - accounts.length);
    accounts.push(...(await Promise.all(Array.from({ length: batch }, () => signUp(baseUrl, mailbox)))));
  }
  return accounts;
}
