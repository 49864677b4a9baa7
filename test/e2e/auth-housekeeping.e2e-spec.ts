import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuthHousekeeping } from '../../src/modules/auth/housekeeping.service';
import { signUpAndLogin, uniqueName } from './support/auth';
import { request } from './support/http';
import { captureQueries, planOf } from './support/queries';
import type { Mailbox } from './support/mailbox';
import { startMailedApp, stopMailedApp, type TestApp } from './support/test-app';

jest.setTimeout(60_000);

/** Dead auth rows are deleted; everything still usable stays; one replica at a time does a pass. */
describe('auth housekeeping', () => {
  let mailbox: Mailbox;
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    ({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true', AUTH_MAIL_MIN_INTERVAL_SECONDS: '0' }));
    db = t.app.get(DataSource);
  });
  afterAll(() => stopMailedApp(t, mailbox));

  const exists = async (sql: string, params: unknown[]): Promise<boolean> => (await db.query<unknown[]>(sql, params)).length > 0;

  it('deletes sessions, pending signups and mail nothing can use any more, wipes settled mail, and keeps the rest', async () => {
    const live = await signUpAndLogin(t, mailbox);
    const revoked = await signUpAndLogin(t, mailbox);
    const expired = await signUpAndLogin(t, mailbox);
    const recentlyRevoked = await signUpAndLogin(t, mailbox);
    await db.query(`UPDATE auth_sessions SET revoked_at = now() - interval '2 days' WHERE user_id = $1`, [revoked.user.id]);
    await db.query(`UPDATE auth_sessions SET expires_at = now() - interval '2 days' WHERE user_id = $1`, [expired.user.id]);
    await db.query(`UPDATE auth_sessions SET revoked_at = now() - interval '1 hour' WHERE user_id = $1`, [recentlyRevoked.user.id]);

    const tag = uniqueName('hk');
    const pending = async (label: string, consumed: string | null, codeExpires: string): Promise<string> => {
      const email = `${tag}-${label}@example.test`;
      await db.query(
        `INSERT INTO pending_signups (username, email, password_hash, code_hmac, code_expires_at, locale, consumed_at)
         VALUES ($1, $2, 'x', decode('00', 'hex'), now() + $3::interval, 'en', now() + $4::interval)`,
        [`${label}_${tag}`.slice(0, 30), email, codeExpires, consumed],
      );
      return email;
    };
    const consumedLongAgo = await pending('c2d', '-2 days', '-2 days');
    const consumedJustNow = await pending('c1h', '-1 hour', '-1 hour');
    const expiredLongAgo = await pending('e31', null, '-31 days');
    const expiredRecently = await pending('e2d', null, '-2 days');

    const mail = async (label: string, status: string, age: string): Promise<string> => {
      const to = `${tag}-${label}@example.test`;
      await db.query(
        `INSERT INTO mail_outbox (lane, "to", subject, text, status, created_at) VALUES ($1, $2, 's', 't', $3, now() - $4::interval)`,
        [`hk-${randomUUID()}`, to, status, age],
      );
      return to;
    };
    const sentLongAgo = await mail('s8d', 'sent', '8 days');
    const sentRecently = await mail('s1d', 'sent', '1 day');
    const failedLongAgo = await mail('f31', 'failed', '31 days');
    const failedRecently = await mail('f8d', 'failed', '8 days');
    const stillPending = await mail('p40', 'pending', '40 days');

    const result = await t.app.get(AuthHousekeeping).runOnce();
    expect(result).toEqual({
      sessions: expect.any(Number),
      pendingSignups: expect.any(Number),
      mail: expect.any(Number),
      mailContent: expect.any(Number),
    });
    expect(result!.mailContent).toBeGreaterThanOrEqual(2);
    expect(result!.sessions).toBeGreaterThanOrEqual(2);

    const sessionOf = (userId: string) => exists(`SELECT 1 FROM auth_sessions WHERE user_id = $1`, [userId]);
    expect(await sessionOf(revoked.user.id)).toBe(false);
    expect(await sessionOf(expired.user.id)).toBe(false);
    expect(await sessionOf(recentlyRevoked.user.id)).toBe(true);
    expect(await sessionOf(live.user.id)).toBe(true);
    // The deleted sessions' token rows went with them; the live session still refreshes.
    expect(
      await exists(`SELECT 1 FROM auth_refresh_tokens t LEFT JOIN auth_sessions s ON s.id = t.session_id WHERE s.id IS NULL LIMIT 1`, []),
    ).toBe(false);
    const refreshed = await request(t.url, 'POST', '/api/v1/auth/sessions/refresh', { body: { refresh_token: live.refreshToken } });
    expect(refreshed.status).toBe(200);

    const pendingLeft = async (email: string) => exists(`SELECT 1 FROM pending_signups WHERE email = $1`, [email]);
    expect(await pendingLeft(consumedLongAgo)).toBe(false);
    expect(await pendingLeft(expiredLongAgo)).toBe(false);
    expect(await pendingLeft(consumedJustNow)).toBe(true);
    expect(await pendingLeft(expiredRecently)).toBe(true);

    const mailLeft = async (to: string) => exists(`SELECT 1 FROM mail_outbox WHERE "to" = $1`, [to]);
    expect(await mailLeft(sentLongAgo)).toBe(false);
    expect(await mailLeft(failedLongAgo)).toBe(false);
    expect(await mailLeft(sentRecently)).toBe(true);
    expect(await mailLeft(failedRecently)).toBe(true);
    expect(await mailLeft(stillPending)).toBe(true);
    // Settled mail kept for inspection holds no content (the previous release left it in clear); queued mail keeps it.
    const contentOf = (to: string): Promise<unknown[]> =>
      db.query<unknown[]>(`SELECT subject, text, html, sealed FROM mail_outbox WHERE "to" = $1`, [to]);
    expect(await contentOf(sentRecently)).toEqual([{ subject: '', text: '', html: null, sealed: null }]);
    expect(await contentOf(failedRecently)).toEqual([{ subject: '', text: '', html: null, sealed: null }]);
    expect(await contentOf(stillPending)).toEqual([{ subject: 's', text: 't', html: null, sealed: null }]);
  });

  it('works off a backlog larger than one batch in one pass, in short statements', async () => {
    const owner = await signUpAndLogin(t, mailbox);
    // 1,201 dead sessions (batches of 500) with a refresh-token row each, 5,001 old sent mails (batches of 5,000).
    await db.query(
      `WITH s AS (
         INSERT INTO auth_sessions (user_id, refresh_hash, expires_at, revoked_at)
         SELECT $1, 'hk-' || g || '-' || $2, now() + interval '1 day', now() - interval '2 days' FROM generate_series(1, 1201) g
         RETURNING id, refresh_hash)
       INSERT INTO auth_refresh_tokens (token_hash, session_id) SELECT refresh_hash, id FROM s`,
      [owner.user.id, randomUUID()],
    );
    const lane = `hk-${randomUUID()}`;
    await db.query(
      `INSERT INTO mail_outbox (lane, "to", subject, text, status, created_at)
       SELECT $1, 'backlog@example.test', '', '', 'sent', now() - interval '8 days' FROM generate_series(1, 5001)`,
      [lane],
    );
    const statements = await captureQueries(db, () => t.app.get(AuthHousekeeping).runOnce());
    const count = async (sql: string, params: unknown[]): Promise<number> => (await db.query<{ n: number }[]>(sql, params))[0]!.n;
    expect(await count(`SELECT count(*)::int AS n FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NOT NULL`, [owner.user.id])).toBe(
      0,
    );
    expect(await count(`SELECT count(*)::int AS n FROM mail_outbox WHERE lane = $1`, [lane])).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM auth_sessions WHERE user_id = $1`, [owner.user.id])).toBe(1); // the live one
    // Several statements per rule, none of them a transaction of its own making.
    const deletes = statements.filter((q) => /^DELETE FROM auth_sessions/.test(q.sql));
    expect(deletes.length).toBeGreaterThanOrEqual(4);
    expect(statements.filter((q) => /^(START TRANSACTION|BEGIN)/i.test(q.sql))).toEqual([]);
  });

  it('each rule, and deleting a user (its sessions by cascade), is served by an index, not a scan of the table', async () => {
    const statements = (await captureQueries(db, () => t.app.get(AuthHousekeeping).runOnce())).filter((q) =>
      /^(DELETE|UPDATE)/.test(q.sql),
    );
    expect(statements).toHaveLength(7);
    const cascade = { sql: `DELETE FROM auth_sessions WHERE user_id = $1`, parameters: [randomUUID()] };
    for (const statement of [...statements, cascade]) {
      const plan = await planOf(db, statement);
      expect({ statement: statement.sql, seqScan: /Seq Scan/.test(plan) }).toEqual({ statement: statement.sql, seqScan: false });
    }
  });

  it('skips a pass while another replica holds it', async () => {
    const other = new Client({ connectionString: process.env.DATABASE_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT pg_advisory_xact_lock(hashtext('runtime-api/auth-housekeeping'))`);
      expect(await t.app.get(AuthHousekeeping).runOnce()).toBeNull();
      await other.query('COMMIT');
      expect(await t.app.get(AuthHousekeeping).runOnce()).not.toBeNull();
    } finally {
      await other.end();
    }
  });
});
