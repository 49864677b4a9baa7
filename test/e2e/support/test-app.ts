import type { ModuleMetadata } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../../../src/app.module';
import { loadConfig, type AppConfig } from '../../../src/common/config';
import { configureApp, createAdapter } from '../../../src/configure-app';
import { startMailbox, type Mailbox } from './mailbox';

export interface TestApp {
  readonly app: NestFastifyApplication;
  readonly config: AppConfig;
  /** http://127.0.0.1:<port> of the listening app. */
  readonly url: string;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Extra modules, e.g. test-only probe controllers. */
  readonly imports?: ModuleMetadata['imports'];
  /** Provider overrides, e.g. a deterministic chat model: `(b) => b.overrideProvider(X).useValue(y)`. */
  readonly override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}

/**
 * Boots the real AppModule with the production set-up (`configureApp`) on real PostgreSQL and
 * Redis, listening on a free port. `env` overrides this run's environment for this app only.
 */
export async function createTestApp(env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  // Every test file of a run shares one database, hence one mail outbox: each app drains only
  // the mail it queued itself (its own lane), so it is sent through its own SMTP_URL.
  // Every test file also calls from one address (127.0.0.1) into one run's Redis prefix, which no
  // real client does: the shared per-IP budget of the routes without a limit of their own is
  // raised, unless a test sets it. The routes' own limits stay as in production.
  const config = loadConfig({
    ...process.env,
    MAIL_OUTBOX_LANE: `test-${randomUUID()}`,
    RATE_LIMIT_DEFAULT_PER_MINUTE: '100000',
    ...env,
  });
  let builder = Test.createTestingModule({ imports: [AppModule.forRoot(config), ...(options.imports ?? [])] });
  if (options.override) builder = options.override(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createAdapter(config), { bufferLogs: true, bodyParser: false });
  await configureApp(app, config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('test app has no TCP address');
  return { app, config, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/**
 * A test app that sends its mail to a mailbox of its own (SMTP_URL points there), for a describe's
 * beforeAll: `({ mailbox, t } = await startMailedApp({ TRUST_PROXY: 'true' }))`. Close both with
 * {@link stopMailedApp}.
 */
export async function startMailedApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<{ mailbox: Mailbox; t: TestApp }> {
  const mailbox = await startMailbox();
  try {
    return { mailbox, t: await createTestApp({ SMTP_URL: mailbox.smtpUrl, ...env }, options) };
  } catch (error) {
    await mailbox.stop();
    throw error;
  }
}

/** The app first (its mail worker may still talk to the mailbox), then the mailbox; either may be missing when set-up failed. */
export async function stopMailedApp(t: TestApp | undefined, mailbox: Mailbox | undefined): Promise<void> {
  await t?.close();
  await mailbox?.stop();
}
