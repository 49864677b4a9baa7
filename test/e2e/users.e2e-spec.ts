import { DataSource } from 'typeorm';
import type { ProblemBody } from '../../src/common/errors/problem';
import { UsersService } from '../../src/modules/users/users.service';
import { eventually, expectProblem, request, type ApiResponse } from './support/http';
import { createTestApp, type TestApp } from './support/test-app';
import { randomIp } from './support/auth';
import { captureQueries, planOf } from './support/queries';
import { createUser, uniqueUsername, type TestUser } from './support/users';

interface Profile {
  id: string;
  username: string;
  avatar_url: string | null;
  bio: string | null;
}

describe('users (profiles, renames, lookup by username)', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Each signup below comes from its own client address (the auth routes are limited per IP).
    t = await createTestApp({ TRUST_PROXY: 'true' });
  });
  afterAll(async () => {
    await t.close();
  });

  const getMe = (user: TestUser): Promise<ApiResponse<Profile>> =>
    request<Profile>(t.url, 'GET', '/api/v1/users/me', { token: user.accessToken });
  const patchMe = (user: TestUser, body: unknown): Promise<ApiResponse<Profile>> =>
    request<Profile>(t.url, 'PATCH', '/api/v1/users/me', { token: user.accessToken, body });
  const lookup = (viewer: TestUser, username: string, headers?: Record<string, string>): Promise<ApiResponse<Profile>> =>
    request<Profile>(t.url, 'GET', `/api/v1/users/${encodeURIComponent(username)}`, { token: viewer.accessToken, headers });
  const fieldsOf = (res: ApiResponse): string[] => ((res.body as ProblemBody).errors ?? []).map((e) => e.field);
  const messageOf = (res: ApiResponse): string | undefined => (res.body as ProblemBody).errors?.[0]?.message;

  describe('authentication', () => {
    it.each([
      ['GET', '/api/v1/users/me'],
      ['PATCH', '/api/v1/users/me'],
      ['GET', '/api/v1/users/someone'],
    ])('%s %s without a token is 401', async (method, path) => {
      const res = await request(t.url, method, path, method === 'PATCH' ? { body: { bio: 'x' } } : {});
      expectProblem(res, 401, 'unauthenticated', path);
    });

    it('a garbage token is 401', async () => {
      const res = await request(t.url, 'GET', '/api/v1/users/me', { token: 'not.a.jwt' });
      expectProblem(res, 401, 'invalid_token');
    });
  });

  describe('GET /users/me', () => {
    it('returns exactly the public profile, with null for unset fields', async () => {
      const user = await createUser(t);
      const res = await getMe(user);
      expect(res.status).toBe(200);
      expect(res.body).toStrictEqual({ id: user.id, username: user.username, avatar_url: null, bio: null });
      expect(res.text).not.toContain(user.email);
    });

    it('is one query, by primary key through the index', async () => {
      const user = await createUser(t);
      const queries = await captureQueries(t.app.get(DataSource), () => getMe(user));
      expect(queries).toHaveLength(1);
      expect(await planOf(t.app.get(DataSource), queries[0]!)).toMatch(/Index Scan using pk_users/);
    });
  });

  describe('PATCH /users/me', () => {
    it('sets avatar_url and bio, returns the updated profile, and GET /me shows it', async () => {
      const user = await createUser(t);
      const res = await patchMe(user, { avatar_url: 'https://cdn.example.com/a.png', bio: 'Hello 世界' });
      expect(res.status).toBe(200);
      expect(res.body).toStrictEqual({
        id: user.id,
        username: user.username,
        avatar_url: 'https://cdn.example.com/a.png',
        bio: 'Hello 世界',
      });
      expect((await getMe(user)).body).toStrictEqual(res.body);
    });

    it('changes only the fields sent, and null clears avatar_url and bio', async () => {
      const user = await createUser(t);
      await patchMe(user, { avatar_url: 'http://example.com/me.jpg', bio: 'bio' });
      const onlyBio = await patchMe(user, { bio: 'new bio' });
      expect(onlyBio.body).toStrictEqual({ id: user.id, username: user.username, avatar_url: 'http://example.com/me.jpg', bio: 'new bio' });
      const cleared = await patchMe(user, { avatar_url: null, bio: null });
      expect(cleared.status).toBe(200);
      expect(cleared.body).toStrictEqual({ id: user.id, username: user.username, avatar_url: null, bio: null });
      expect((await getMe(user)).body).toStrictEqual(cleared.body);
    });

    it('an empty body is 422 no_changes', async () => {
      const user = await createUser(t);
      expectProblem(await patchMe(user, {}), 422, 'no_changes', '/api/v1/users/me');
    });

    it('no body at all, or a JSON null, is 422 no_changes', async () => {
      const user = await createUser(t);
      expectProblem(await request(t.url, 'PATCH', '/api/v1/users/me', { token: user.accessToken }), 422, 'no_changes');
      expectProblem(await patchMe(user, null), 422, 'no_changes');
    });

    it.each([[['bio']], ['bio'], [42]])('a body that is not an object (%p) is 422', async (body) => {
      const user = await createUser(t);
      expectProblem(await patchMe(user, body), 422, 'validation_failed');
    });

    it.each([['role'], ['email'], ['id'], ['password_hash'], ['avatarUrl']])(
      'unknown field %s is 422 and changes nothing',
      async (field) => {
        const user = await createUser(t);
        const res = await patchMe(user, { bio: 'sneaky', [field]: field === 'role' ? 'admin' : 'x@example.test' });
        expectProblem(res, 422, 'validation_failed');
        expect(fieldsOf(res)).toContain(field);
        expect((await getMe(user)).body.bio).toBeNull();
        const record = await t.app.get(UsersService).findAuthRecordById(user.id);
        expect(record).toEqual(expect.objectContaining({ role: 'user', email: user.email }));
      },
    );

    describe('username', () => {
      it('renames; the new name is found and the old one is not', async () => {
        const [user, viewer] = [await createUser(t), await createUser(t)];
        const renamed = uniqueUsername('New');
        const res = await patchMe(user, { username: renamed });
        expect(res.status).toBe(200);
        expect(res.body).toStrictEqual({ id: user.id, username: renamed, avatar_url: null, bio: null });
        expect((await lookup(viewer, renamed.toLowerCase())).body).toStrictEqual(res.body);
        expectProblem(await lookup(viewer, user.username), 404, 'user_not_found');
      });

      it('cannot be null', async () => {
        const user = await createUser(t);
        const res = await patchMe(user, { username: null });
        expect(expectProblem(res, 422, 'validation_failed').errors).toEqual([{ field: 'username', message: '不能为 null' }]);
        const en = await request(t.url, 'PATCH', '/api/v1/users/me', {
          token: user.accessToken,
          body: { username: null },
          headers: { 'accept-language': 'en' },
        });
        expect(expectProblem(en, 422, 'validation_failed').errors).toEqual([{ field: 'username', message: 'must not be null' }]);
      });

      it.each([['ab'], ['a'.repeat(31)], ['bad-name'], ['has space'], ['naïve_user'], ['用户名字'], [''], [12345], [true]])(
        '%p is 422',
        async (username) => {
          const user = await createUser(t);
          const res = await patchMe(user, { username });
          expectProblem(res, 422, 'validation_failed');
          expect(fieldsOf(res)).toEqual(['username']);
        },
      );

      it('accepts exactly 3 and 30 characters of [A-Za-z0-9_]', async () => {
        const user = await createUser(t);
        const thirty = `Z_${uniqueUsername().slice(2)}`.padEnd(30, '9');
        expect((await patchMe(user, { username: thirty })).body.username).toBe(thirty);
        // Each test run has its own database and no other test uses this name.
        const res = await patchMe(user, { username: 'q_7' });
        expect(res.status).toBe(200);
        expect(res.body.username).toBe('q_7');
      });

      it('taken by another user, in any case, is 409 username_taken', async () => {
        const [holder, user] = [await createUser(t), await createUser(t)];
        expectProblem(await patchMe(user, { username: holder.username }), 409, 'username_taken', '/api/v1/users/me');
        expectProblem(await patchMe(user, { username: holder.username.toUpperCase() }), 409, 'username_taken');
        expect((await getMe(user)).body.username).toBe(user.username);
      });

      it('a user may change the case of their own name', async () => {
        const user = await createUser(t);
        const res = await patchMe(user, { username: user.username.toUpperCase() });
        expect(res.status).toBe(200);
        expect(res.body.username).toBe(user.username.toUpperCase());
      });

      it('held by an unexpired pending signup (any case) is 409 username_taken', async () => {
        const user = await createUser(t);
        const pending = uniqueUsername('pending');
        const signup = await request(t.url, 'POST', '/api/v1/auth/verifications', {
          body: { username: pending, email: `${pending}@example.test`, password: 'correct horse battery' },
          headers: { 'x-forwarded-for': randomIp() },
        });
        expect(signup.status).toBe(202);
        expectProblem(await patchMe(user, { username: pending.toUpperCase() }), 409, 'username_taken');
        expect((await getMe(user)).body.username).toBe(user.username);
      });

      it('a rename racing a signup for the same name waits for it and then loses (409): one lock serializes both', async () => {
        const user = await createUser(t);
        const name = uniqueUsername('claim');
        const db = t.app.get(DataSource);
        // A signup in the middle of its transaction: the name's lock held, its pending row not yet committed.
        const signup = db.createQueryRunner();
        await signup.connect();
        try {
          await signup.startTransaction();
          await signup.query(`SELECT pg_advisory_xact_lock(724311002, hashtext(lower($1)))`, [name]);
          await signup.query(
            `INSERT INTO pending_signups (username, email, password_hash, code_hmac, code_expires_at, locale)
             VALUES ($1, $2, 'x', '\\x00', now() + interval '10 minutes', 'en')`,
            [name, `${name.toLowerCase()}@example.test`],
          );
          let settled = false;
          const rename = patchMe(user, { username: name.toUpperCase() }).finally(() => (settled = true));
          // The rename must queue behind the signup's lock (without it, it answers 200 at once).
          await eventually(
            async () =>
              settled ||
              (await db.query<unknown[]>(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 724311002`))
                .length > 0,
            10_000,
          );
          await signup.commitTransaction();
          expectProblem(await rename, 409, 'username_taken');
        } finally {
          if (signup.isTransactionActive) await signup.rollbackTransaction();
          await signup.release();
        }
        expect((await getMe(user)).body.username).toBe(user.username);
      });

      it('two users renaming to the same name at once: exactly one 200, one 409', async () => {
        const [a, b] = [await createUser(t), await createUser(t)];
        const target = uniqueUsername('race');
        const results = await Promise.all([patchMe(a, { username: target }), patchMe(b, { username: target.toUpperCase() })]);
        expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
        const loser = results.find((r) => r.status === 409)!;
        expectProblem(loser, 409, 'username_taken');
        const winner = results.find((r) => r.status === 200)!;
        expect((await lookup(a, target)).body).toStrictEqual(winner.body);
      });
    });

    describe('avatar_url', () => {
      it.each([['http://example.com/a.png'], ['https://example.com/a%20b.png?size=64#x'], ['https://127.0.0.1:8443/a']])(
        'accepts %s',
        async (url) => {
          const user = await createUser(t);
          const res = await patchMe(user, { avatar_url: url });
          expect(res.status).toBe(200);
          expect(res.body.avatar_url).toBe(url);
        },
      );

      it.each([
        ['ftp://example.com/a.png'],
        ['javascript:alert(1)'],
        ['data:image/png;base64,AAAA'],
        ['/relative/a.png'],
        ['example.com/a.png'],
        ['not a url'],
        ['https://exa mple.com/a.png'],
        [' https://example.com/a.png'],
        ['https://example.com/\u0000.png'],
        [''],
        [42],
      ])('rejects %p with 422', async (url) => {
        const user = await createUser(t);
        const res = await patchMe(user, { avatar_url: url });
        expectProblem(res, 422, 'validation_failed');
        expect(fieldsOf(res)).toEqual(['avatar_url']);
        expect(messageOf(res)).toMatch(/\S/);
      });

      it('accepts 2048 characters and rejects 2049', async () => {
        const user = await createUser(t);
        const base = 'https://example.com/';
        const max = base + 'a'.repeat(2048 - base.length);
        expect((await patchMe(user, { avatar_url: max })).body.avatar_url).toBe(max);
        expectProblem(await patchMe(user, { avatar_url: `${max}a` }), 422, 'validation_failed');
      });
    });

    describe('bio', () => {
      it('counts characters as a person sees them: 200 emoji or Chinese characters fit, 201 do not', async () => {
        const user = await createUser(t);
        const family = '👨‍👩‍👧‍👦'; // one character on screen, 11 UTF-16 units
        const kiss = '👩🏽‍❤️‍💋‍👨🏿'; // one character on screen, 10 code points: as long as emoji get
        for (const unit of [family, kiss, '字', '👍🏽', 'é']) {
          const res = await patchMe(user, { bio: unit.repeat(200) });
          expect(res.status).toBe(200);
          expect(res.body.bio).toBe(unit.repeat(200));
          const tooLong = await patchMe(user, { bio: unit.repeat(201) });
          expect(expectProblem(tooLong, 422, 'validation_failed').errors).toEqual([{ field: 'bio', message: '最多 200 个字符' }]);
        }
      });

      it('its OpenAPI schema admits every bio the server accepts (maxLength counts code points)', async () => {
        const user = await createUser(t);
        const kisses = '👩🏽‍❤️‍💋‍👨🏿'.repeat(200); // accepted: 200 characters on screen, 2000 code points
        expect((await patchMe(user, { bio: kisses })).status).toBe(200);
        type Doc = { components: { schemas: Record<string, { properties: Record<string, { maxLength?: number }> }> } };
        const doc = (await request<Doc>(t.url, 'GET', '/api/docs-json')).body;
        const schema = doc.components.schemas.UpdateProfileDto?.properties.bio;
        // JSON Schema's length is in code points; a generated client must not refuse this bio.
        expect(schema?.maxLength).toBe([...kisses].length);
      });

      it('bounds the text too: marks piled onto one character (one on screen, 40 KB) are 422, and nothing is stored', async () => {
        const user = await createUser(t);
        const res = await patchMe(user, { bio: `e${'\u0301'.repeat(20_000)}` });
        expect(expectProblem(res, 422, 'validation_failed').errors).toEqual([{ field: 'bio', message: '最多 200 个字符' }]);
        expect((await getMe(user)).body.bio).toBeNull();
      });

      it('is bounded in the database too (ck_users_bio_length), whoever writes it', async () => {
        const user = await createUser(t);
        const db = t.app.get(DataSource);
        const set = (bio: string) => db.query('UPDATE users SET bio = $1 WHERE id = $2', [bio, user.id]);
        await expect(set('\u0301'.repeat(2000))).resolves.toBeDefined();
        await expect(set('\u0301'.repeat(2001))).rejects.toThrow(/ck_users_bio_length/);
      });

      it('is trimmed before it is counted and stored', async () => {
        const user = await createUser(t);
        const res = await patchMe(user, { bio: `   ${'x'.repeat(200)}\u3000 ` });
        expect(res.status).toBe(200);
        expect(res.body.bio).toBe('x'.repeat(200));
      });

      it('keeps line breaks (a bio of several lines), each stored as \\n however the client sent it', async () => {
        const user = await createUser(t);
        const res = await patchMe(user, { bio: 'line one\r\nline two\rline three\n\nafter a blank line\u2028end' });
        expect(res.status).toBe(200);
        expect(res.body.bio).toBe('line one\nline two\nline three\n\nafter a blank line\nend');
        expect((await getMe(user)).body.bio).toBe(res.body.bio);
        // Still counted: each line break is one character.
        expect((await patchMe(user, { bio: 'x\n'.repeat(100) + 'x' })).status).toBe(422);
      });

      it('blank is stored as no bio', async () => {
        const user = await createUser(t);
        await patchMe(user, { bio: 'something' });
        const res = await patchMe(user, { bio: '   ' });
        expect(res.status).toBe(200);
        expect(res.body.bio).toBeNull();
      });

      it.each([['a\u0000b'], ['bell\u0007'], ['tab\there'], ['esc\u001b[31m'], ['c1\u0085x'], ['lone \ud800 surrogate'], [7]])(
        'rejects %p with 422',
        async (bio) => {
          const user = await createUser(t);
          const res = await patchMe(user, { bio });
          expectProblem(res, 422, 'validation_failed');
          expect(fieldsOf(res)).toEqual(['bio']);
          expect(messageOf(res)).toMatch(/\S/);
        },
      );
    });
  });

  describe('GET /users/{username}', () => {
    it('returns the public profile, matching case-insensitively, never the email', async () => {
      const [user, viewer] = [await createUser(t, { username: uniqueUsername('MiXeD') }), await createUser(t)];
      await patchMe(user, { bio: 'hi', avatar_url: 'https://example.com/x.png' });
      for (const name of [user.username, user.username.toLowerCase(), user.username.toUpperCase()]) {
        const res = await lookup(viewer, name);
        expect(res.status).toBe(200);
        expect(res.body).toStrictEqual({ id: user.id, username: user.username, avatar_url: 'https://example.com/x.png', bio: 'hi' });
        expect(res.text).not.toContain(user.email);
      }
    });

    it('unknown is 404 user_not_found, localized', async () => {
      const viewer = await createUser(t);
      const name = uniqueUsername('ghost');
      expect(expectProblem(await lookup(viewer, name), 404, 'user_not_found', `/api/v1/users/${name}`).detail).toBe('用户不存在');
      expect(expectProblem(await lookup(viewer, name, { 'accept-language': 'en' }), 404, 'user_not_found').detail).toBe(
        'The user does not exist.',
      );
    });

    it.each([['ab'], ['a'.repeat(31)], ['bad-name'], ['bad.name'], ['用户名字'], ['has space']])('invalid %p is 422', async (name) => {
      const viewer = await createUser(t);
      const res = await lookup(viewer, name);
      expectProblem(res, 422, 'validation_failed');
      expect(fieldsOf(res)).toEqual(['username']);
    });

    it('is one query through uq_users_username_lower', async () => {
      const [user, viewer] = [await createUser(t), await createUser(t)];
      const queries = await captureQueries(t.app.get(DataSource), () => lookup(viewer, user.username.toUpperCase()));
      expect(queries).toHaveLength(1);
      expect(await planOf(t.app.get(DataSource), queries[0]!)).toMatch(/Index Scan using uq_users_username_lower/);
    });
  });

  describe('profile reads of concurrent requests share one query', () => {
    it('reads asked in one turn are one indexed query; each caller gets its own profile, unknown ones 404', async () => {
      const users = [await createUser(t), await createUser(t), await createUser(t, { username: uniqueUsername('CaSe') })];
      await patchMe(users[0]!, { bio: 'first' });
      const service = t.app.get(UsersService);
      const ghost = uniqueUsername('ghost');
      let settled: PromiseSettledResult<unknown>[] = [];
      const queries = await captureQueries(t.app.get(DataSource), async () => {
        settled = await Promise.allSettled([
          ...users.map((u) => service.getProfile(u.id)),
          service.getProfile('00000000-0000-4000-8000-000000000000'),
          service.getProfile('not-a-uuid'),
          ...users.map((u) => service.getProfileByUsername(u.username.toUpperCase())),
          service.getProfileByUsername(ghost),
        ]);
      });
      const profiles = users.map((u, i) => ({ id: u.id, username: u.username, avatarUrl: null, bio: i === 0 ? 'first' : null }));
      const notFound = { status: 'rejected', reason: expect.objectContaining({ code: 'user_not_found' }) };
      expect(settled).toEqual([
        ...profiles.map((value) => ({ status: 'fulfilled', value })),
        notFound,
        notFound,
        ...profiles.map((value) => ({ status: 'fulfilled', value })),
        notFound,
      ]);
      expect(queries.map((q) => q.sql)).toEqual([expect.stringContaining('id = ANY'), expect.stringContaining('lower(username) = ANY')]);
      // A plain or a bitmap index scan: either way through the index.
      expect(await planOf(t.app.get(DataSource), queries[0]!)).toMatch(/Index Scan (using|on) pk_users/);
      expect(await planOf(t.app.get(DataSource), queries[1]!)).toMatch(/Index Scan (using|on) uq_users_username_lower/);
    });

    it('a burst of requests from many users: every answer is its caller’s own', async () => {
      const users = await Promise.all(Array.from({ length: 12 }, () => createUser(t)));
      const [mine, theirs] = await Promise.all([
        Promise.all(users.map((u) => getMe(u))),
        Promise.all(users.map((u, i) => lookup(users[(i + 1) % users.length]!, u.username))),
      ]);
      const expected = users.map((u) => ({ id: u.id, username: u.username, avatar_url: null, bio: null }));
      expect(mine.map((r) => [r.status, r.body])).toEqual(expected.map((p) => [200, p]));
      expect(theirs.map((r) => [r.status, r.body])).toEqual(expected.map((p) => [200, p]));
    });
  });

  it('OpenAPI documents the three routes with the profile DTOs', async () => {
    type Doc = {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    const res = await request<Doc>(t.url, 'GET', '/api/docs-json');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths['/api/v1/users/me'] ?? {}).sort()).toEqual(['get', 'patch']);
    expect(Object.keys(res.body.paths['/api/v1/users/{username}'] ?? {})).toEqual(['get']);
    expect(Object.keys(res.body.components.schemas.UserProfileDto?.properties ?? {}).sort()).toEqual([
      'avatar_url',
      'bio',
      'id',
      'username',
    ]);
    expect(Object.keys(res.body.components.schemas.UpdateProfileDto?.properties ?? {}).sort()).toEqual(['avatar_url', 'bio', 'username']);
  });

  describe('UsersService, as the auth module uses it', () => {
    const service = (): UsersService => t.app.get(UsersService);
    const create = (input: { username: string; email: string }) =>
      t.app.get(DataSource).transaction((m) => service().createConfirmedUser(m, { ...input, passwordHash: 'h', role: 'user' }));

    it('stores the email trimmed and lowercased, confirmed now, and finds it in any case', async () => {
      const username = uniqueUsername();
      const created = await create({ username, email: `  ${username.toUpperCase()}@Example.TEST ` });
      expect(created).toEqual({
        id: expect.any(String),
        username,
        email: `${username}@example.test`,
        passwordHash: 'h',
        role: 'user',
        emailConfirmedAt: expect.any(Date),
        createdAt: expect.any(Date),
      });
      expect(await service().findAuthRecordByEmail(`${username.toUpperCase()}@EXAMPLE.test`)).toEqual(created);
      expect(await service().findAuthRecordById(created.id)).toEqual(created);
      expect(await service().findAuthRecordById('not-a-uuid')).toBeNull();
      expect(await service().findAccountByEmail(`${username}@EXAMPLE.TEST`)).toStrictEqual({
        id: created.id,
        email: `${username}@example.test`,
        created_at: created.createdAt.toISOString(),
        email_confirmed_at: created.emailConfirmedAt!.toISOString(),
      });
      expect(await service().findAccountByEmail(`x${username}@example.test`)).toBeNull();
    });

    it('maps the unique indexes to username_taken and email_taken, and rolls back', async () => {
      const existing = await createUser(t);
      await expect(create({ username: existing.username.toUpperCase(), email: `${uniqueUsername()}@example.test` })).rejects.toMatchObject({
        code: 'username_taken',
        status: 409,
      });
      const fresh = uniqueUsername();
      await expect(create({ username: fresh, email: existing.email.toUpperCase() })).rejects.toMatchObject({
        code: 'email_taken',
        status: 409,
      });
      expect(await service().isUsernameTaken(fresh)).toBe(false);
    });

    it('isUsernameTaken is case-insensitive', async () => {
      const user = await createUser(t);
      expect(await service().isUsernameTaken(user.username.toUpperCase())).toBe(true);
      expect(await service().isUsernameTaken(uniqueUsername())).toBe(false);
    });

    it('lockForChange finds the user by email in any case, for setRole in the same transaction; null when nobody has it', async () => {
      const user = await createUser(t);
      await t.app.get(DataSource).transaction(async (m) => {
        const id = await service().lockForChange(m, user.email.toUpperCase());
        expect(id).toBe(user.id);
        await service().setRole(m, id!, 'admin');
        expect(await service().lockForChange(m, `nobody-${user.email}`)).toBeNull();
      });
      expect((await service().findAuthRecordById(user.id))?.role).toBe('admin');
    });
  });
});
