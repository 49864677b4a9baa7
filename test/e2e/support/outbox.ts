import type { DataSource } from 'typeorm';
import { randomIp, uniqueName } from './auth';
import { request } from './http';
import type { TestApp } from './test-app';

export interface OutboxRow {
  status: string;
  attempts: number;
  last_error: string | null;
  /** Seconds until the row is due (negative: overdue). */
  retry_in_s: number;
}

/** The address's mail_outbox row (the tests that use this queue one per address). */
export async function outboxRow(db: DataSource, to: string): Promise<OutboxRow | undefined> {
  const rows = await db.query<OutboxRow[]>(
    `SELECT status, attempts, last_error, extract(epoch FROM next_attempt_at - now())::float8 AS retry_in_s
       FROM mail_outbox WHERE "to" = $1`,
    [to],
  );
  return rows[0];
}

/** Signs up a fresh user (or `username`) from a fresh client address (202): one code mail queued. Any server: a test app or a spawned process. */
export async function signUpForMail(
  server: Pick<TestApp, 'url'>,
  options: { requestId?: string; username?: string } = {},
): Promise<{ username: string; email: string }> {
  const username = options.username ?? uniqueName();
  const email = `${username}@example.test`;
  const res = await request(server.url, 'POST', '/api/v1/auth/verifications', {
    body: { username, email, password: 'secret-pass' },
    headers: { 'x-forwarded-for': randomIp(), ...(options.requestId ? { 'x-request-id': options.requestId } : {}) },
  });
  expect(res.status).toBe(202);
  return { username, email };
}
