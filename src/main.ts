import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { loadConfigOrExit } from './common/config';
import { ensureDatabase } from './common/database/ensure-database';
import { configureApp, createAdapter } from './configure-app';

/**
 * SIGTERM/SIGINT before the app can drain (waiting for PostgreSQL, say): nothing is in flight, so
 * exit at once. Node installs no handler of its own, and a container's PID 1 ignores a signal it
 * does not handle: without this, a pod stopped during start-up sat out its whole grace period.
 */
function stopDuringStartUp(signal: NodeJS.Signals): void {
  process.stderr.write(`${signal} received during start-up: exiting\n`);
  process.exit(0);
}

async function bootstrap(): Promise<void> {
  process.once('SIGTERM', stopDuringStartUp);
  process.once('SIGINT', stopDuringStartUp);
  const config = loadConfigOrExit();
  if (config.jwt.usingDevSecret) process.stderr.write('warning: JWT_SECRET is not set; using an insecure development secret\n');
  if (!config.isProduction) await ensureDatabase(config.database.url);

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createAdapter(config), {
    bodyParser: false,
    // Start-up log lines wait in Nest's buffer until configureApp hands them to the pino logger.
    // A module that fails to start (PostgreSQL unreachable, say) rejects here instead of exiting, the
    // buffer is not dumped on the console (in colour, with stack traces, not JSON), and the catch
    // below reports the failure in one line.
    bufferLogs: true,
    autoFlushLogs: false,
    abortOnError: false,
  });
  await configureApp(app, config);
  installShutdown(app, config.http.shutdownTimeoutMs);
  await app.listen({ port: config.port, host: '0.0.0.0' });
  const address = app.getHttpServer().address();
  new Logger('Main').log(
    { event: 'http.listening', port: typeof address === 'object' && address ? address.port : config.port, node: process.version },
    'listening',
  );
}

/**
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close PostgreSQL and Redis
 * (module shutdown hooks), exit 0. A watchdog exits 1 if that takes longer than the budget.
 */
function installShutdown(app: NestFastifyApplication, timeoutMs: number): void {
  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    process.stderr.write(`${signal} received: shutting down\n`);
    setTimeout(() => {
      process.stderr.write(`shutdown took longer than ${timeoutMs} ms; exiting\n`);
      process.exit(1);
    }, timeoutMs).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.removeListener('SIGTERM', stopDuringStartUp);
  process.removeListener('SIGINT', stopDuringStartUp);
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(`fatal: start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
