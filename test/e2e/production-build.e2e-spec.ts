import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { dropDatabase, ensureDatabase } from '../../src/common/database/ensure-database';
import { migrations } from '../../src/common/database/migrations';
import { PasswordHasher } from '../../src/modules/auth/password-hasher';
import { copyStageContext } from './support/docker-context';
import { uniqueUsername } from './support/users';
import { eventually, request } from './support/http';
import { freePort, spawnEnv, startServer, type ServerProcess } from './support/server-process';

const ROOT = join(__dirname, '../..');
const run = promisify(execFile);

// A full `nest build` on a shared 2-core machine.
jest.setTimeout(240_000);

/**
 * The artifact production runs, built as the image builds it: the files the Dockerfile's `build`
 * stage copies (and nothing else from the tree, .dockerignore applied) with this checkout's
 * node_modules in place of its `npm ci`, then `npm run build` there (nest build, then
 * scripts/bundle.mjs makes dist/main.js one bundled file). The server is started from a directory
 * holding main.js alone, as production starts it, and driven through what touches each part left
 * outside the bundle: LangChain (the first agent run loads it), argon2, ioredis, zod, pino and the
 * Swagger UI's files. `node dist/migrate.js`, which the Kubernetes init container runs, migrates an
 * empty database. CI also runs this file on the Node.js major of the image (.ci/run).
 */
describe('production build (bundled dist/main.js)', () => {
  let context: string;
  let bundleDir: string;
  let server: ServerProcess;
  let url: string;

  beforeAll(async () => {
    context = mkdtempSync(join(tmpdir(), 'runtime-api-image-'));
    copyStageContext(ROOT, 'build', context);
    symlinkSync(join(ROOT, 'node_modules'), join(context, 'node_modules'), 'dir');
    await run('npm', ['run', 'build'], { cwd: context });
    // Beside the build, so the packages left outside the bundle resolve from the same node_modules.
    bundleDir = join(context, 'bundle-only');
    mkdirSync(bundleDir);
    for (const file of ['main.js', 'main.js.map']) copyFileSync(join(context, 'dist', file), join(bundleDir, file));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = startServer(
      {
        ...spawnEnv(),
        NODE_ENV: 'production',
        JWT_SECRET: 'b'.repeat(48),
        SMTP_URL: 'smtp://127.0.0.1:2525',
        LLM_PROVIDER: 'offline',
      },
      port,
      [join(bundleDir, 'main.js')],
    );
    const started = await Promise.race([
      eventually(async () => (await request(url, 'GET', '/api/v1/health').catch(() => ({ status: 0 }))).status === 200, 30_000, 100).then(
        () => true,
      ),
      server.exited.then(() => false),
    ]);
    if (!started) throw new Error(`the bundled server exited:\n${server.stderr()}`);
  });

  afterAll(async () => {
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    if (context) rmSync(context, { recursive: true, force: true });
  });

  it('is one file: the server runs from main.js alone', () => {
    expect(readdirSync(bundleDir).sort()).toEqual(['main.js', 'main.js.map']);
    expect(statSync(join(bundleDir, 'main.js')).size).toBeGreaterThan(1_000_000);
    // esbuild's keepNames helper: it made every request 40 % dearer (scripts/bundle.mjs).
    expect(readFileSync(join(bundleDir, 'main.js'), 'utf8')).not.toMatch(/\b__name\s*=/);
  });

  it('node dist/migrate.js (the init container) migrates an empty database, and a second run has nothing to do', async () => {
    const scratch = new URL(process.env.DATABASE_URL!);
    scratch.pathname = `${scratch.pathname}_image_migrate`;
    await ensureDatabase(scratch.toString());
    try {
      const env = {
        ...spawnEnv(),
        NODE_ENV: 'production',
        JWT_SECRET: 'b'.repeat(48),
        SMTP_URL: 'smtp://127.0.0.1:2525',
        DATABASE_URL: scratch.toString(),
      };
      const first = await run(process.execPath, [join(context, 'dist/migrate.js')], {
        cwd: context,
        env: { PATH: process.env.PATH, ...env },
      });
      expect(first.stdout.trim().split('\n').at(-1)).toBe('migrations are up to date');
      const db = new Client({ connectionString: scratch.toString() });
      await db.connect();
      try {
        const applied = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM typeorm_migrations`);
        expect(applied.rows[0]!.n).toBe(migrations.length);
      } finally {
        await db.end();
      }
      const second = await run(process.execPath, [join(context, 'dist/migrate.js')], {
        cwd: context,
        env: { PATH: process.env.PATH, ...env },
      });
      expect(second.stdout.trim()).toBe('migrations are up to date');
    } finally {
      await dropDatabase(scratch.toString());
    }
  });

  it('serves readiness (PostgreSQL and Redis), sign-in, the profile and an agent run with a tool call', async () => {
    expect((await request(url, 'GET', '/api/v1/infra/health')).status).toBe(200);

    const username = uniqueUsername('pb');
    const email = `${username}@example.test`;
    const db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    try {
      await db.query(`INSERT INTO users (username, email, password_hash, role, email_confirmed_at) VALUES ($1, $2, $3, 'user', now())`, [
        username,
        email,
        await new PasswordHasher().hash('build-password-1'),
      ]);
    } finally {
      await db.end();
    }
    const login = await request<{ access_token: string }>(url, 'POST', '/api/v1/auth/sessions', {
      body: { email, password: 'build-password-1' },
    });
    expect(login.status).toBe(200);
    const token = login.body.access_token;
    const me = await request<{ username: string }>(url, 'GET', '/api/v1/users/me', { token });
    expect({ status: me.status, username: me.body.username }).toEqual({ status: 200, username });

    const chat = await request<{ output: string; events: { type: string; tool_name?: string }[] }>(url, 'POST', '/api/v1/agent-chats', {
      token,
      body: { message: 'please compute (2 + 3) * 4' },
    });
    expect(chat.status).toBe(200);
    expect(chat.body.output).toContain('20');
    expect(chat.body.events).toContainEqual(expect.objectContaining({ type: 'TOOL_CALL_RESULT', tool_name: 'calculator' }));
  });

  it('serves the API documentation: the OpenAPI document and the Swagger UI with its files', async () => {
    const doc = await request<{ openapi: string; paths: Record<string, unknown> }>(url, 'GET', '/api/docs-json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toContain('/api/v1/agent-chats');
    const page = await fetch(`${url}/api/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui');
    const asset = await fetch(`${url}/api/docs/swagger-ui.css`);
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(1000);
  });
});
