import { randomBytes, randomInt } from 'node:crypto';
import { request } from './http';
import { extractCode, type Mailbox } from './mailbox';
import type { TestApp } from './test-app';

export interface SignedUpUser {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly user: { readonly id: string; readonly email: string };
  readonly username: string;
  readonly password: string;
}

export interface SignUpOverrides {
  readonly username?: string;
  readonly email?: string;
  readonly password?: string;
  readonly headers?: Record<string, string>;
}

export const uniqueName = (prefix = 'u'): string => `${prefix}_${randomBytes(6).toString('hex')}`;

/**
 * A random client address for `X-Forwarded-For`. The auth routes allow 30 requests per 5 minutes
 * per IP, shared by every test file of a run (Redis): an app created with `TRUST_PROXY: 'true'`
 * counts each of these as its own client.
 */
export const randomIp = (): string => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/**
 * The real flow: signup → code mail (received by `mailbox`) → verify. The app must send mail to
 * the mailbox (`SMTP_URL: mailbox.smtpUrl`); create it with `TRUST_PROXY: 'true'` when a file
 * signs up more than a handful of users (see {@link randomIp}).
 */
export async function signUpAndLogin(t: TestApp, mailbox: Mailbox, overrides: SignUpOverrides = {}): Promise<SignedUpUser> {
  const username = overrides.username ?? uniqueName();
  const email = (overrides.email ?? `${username}@example.test`).toLowerCase();
  const password = overrides.password ?? `pw-${randomBytes(8).toString('hex')}`;
  const headers = { 'x-forwarded-for': randomIp(), ...overrides.headers };
  const already = mailbox.mailsTo(email).length;
  const signup = await request(t.url, 'POST', '/api/v1/auth/verifications', { body: { username, email, password }, headers });
  if (signup.status !== 202) {
    const hint =
      signup.status === 429 && !t.config.http.trustProxy
        ? ' (create the app with TRUST_PROXY: "true" so each signup has its own client IP)'
        : '';
    throw new Error(`signup failed: ${signup.status} ${signup.text}${hint}`);
  }
  const mail = await mailbox.waitForNth(email, already + 1);
  const verify = await request<{ access_token: string; refresh_token: string; user: { id: string; email: string } }>(
    t.url,
    'POST',
    '/api/v1/auth/verifications/verify',
    { body: { email, token: extractCode(mail.text) }, headers },
  );
  if (verify.status !== 200) throw new Error(`verify failed: ${verify.status} ${verify.text}`);
  return { accessToken: verify.body.access_token, refreshToken: verify.body.refresh_token, user: verify.body.user, username, password };
}
