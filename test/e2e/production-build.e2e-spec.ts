import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { PasswordHasher } from '../../src/modules/auth/password-hasher';
import { uniqueUsername } from './support/users';
import { eventually, request } from './support/http';
import { freePort, spawnEnv, startServer, type ServerProcess } from './support/server-process';

const ROOT = join(__dirname, '../..');
const run = promisify(execFile);

// A full `nest build` on a shared 2-core machine.
jest.setTimeout(240_000);

/**
 * The artifact production runs: `npm run build` (nest build, then scripts/bundle.mjs) makes
 * dist/main.js one bundled file. Built here into a directory of its own under node_modules/.cache
 * (where Node finds the packages left outside the bundle), with every other file of the build
 * removed, then started as production starts it and driven through what touches each part left
 * outside: LangChain (the first agent run loads it), argon2, ioredis, zod, pino and the Swagger
 * UI's files.
 */
describe('production build (bundled dist/main.js)', () => {
  const outDir = join(ROOT, 'node_modules/.cache', `runtime-api-build-${process.pid}`);
  // Beside the output, not in it: nest build empties its output directory first.
  const tsconfig = `${outDir}.tsconfig.json`;
  let server: ServerProcess;
  let url: string;

  beforeAll(async () => {
    mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
    writeFileSync(tsconfig, JSON.stringify({ extends: join(ROOT, 'tsconfig.build.json'), compilerOptions: { outDir } }));
    // The Nest CLI takes the path relative to the working directory.
    await run(join(ROOT, 'node_modules/.bin/nest'), ['build', '-p', relative(ROOT, tsconfig)], { cwd: ROOT });
    await run(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), outDir], { cwd: ROOT });
    for (const entry of readdirSync(outDir)) {
      if (entry !== 'main.js' && entry !== 'main.js.map') rmSync(join(outDir, entry), { recursive: true, force: true });
    }
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
      [join(outDir, 'main.js')],
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
    rmSync(outDir, { recursive: true, force: true });
    rmSync(tsconfig, { force: true });
  });

  it('is one file: the build directory holds nothing else', () => {
    expect(readdirSync(outDir).sort()).toEqual(['main.js', 'main.js.map']);
    expect(statSync(join(outDir, 'main.js')).size).toBeGreaterThan(1_000_000);
    // esbuild's keepNames helper: it made every request 40 % dearer (scripts/bundle.mjs).
    expect(readFileSync(join(outDir, 'main.js'), 'utf8')).not.toMatch(/\b__name\s*=/);
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
