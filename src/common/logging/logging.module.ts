import { Global, Module } from '@nestjs/common';
import { Logger, PinoLogger } from 'nestjs-pino';
import pino from 'pino';
import { APP_CONFIG, type AppConfig } from '../config';
import { AccessLog } from './access-log';
import { AuditLog } from './audit-log';
import { serializeError } from './error-serializer';

/**
 * Paths never written to logs: credentials and tokens, wherever they appear. Not `code`: that key
 * holds our problem codes and errors' codes (SQLSTATE, ECONNREFUSED), which a log must show; the
 * sign-up code travels as the verify body's `token`, and in mail text, which reaches an error line
 * only as a failed statement's parameters, dropped by {@link serializeError}.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  ...['password', 'token', 'otp', 'refresh_token', 'access_token', 'secret', 'apiKey', 'api_key'].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
];

/** The process's root pino logger: Nest's Logger writes to it (access lines have their own, access-log.ts). */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

export function createRootLogger(
  level: AppConfig['log']['level'],
  // Asynchronous writes: a line is queued and written when the event loop is free, and lines
  // that pile up under load go out in one write. The default (a synchronous write(2) per line)
  // blocked the event loop once per request. pino flushes what is queued when the process exits.
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false }),
): pino.Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, serializers: { err: serializeError } }, destination);
}

/** nestjs-pino's PinoLogger, always writing to this app's root logger (never a request-scoped one). */
class RootPinoLogger extends PinoLogger {
  constructor(private readonly root: pino.Logger) {
    super({ pinoHttp: { logger: root } });
  }

  override get logger(): pino.Logger {
    return this.root;
  }
}

/**
 * Structured JSON logs (pino). Nest's `Logger` (used by every module) writes through nestjs-pino's
 * Nest bridge to the root logger. nestjs-pino's request middleware (pino-http under Express-style
 * middleware, a child logger and an AsyncLocalStorage scope per request) is deliberately not
 * used: it cost more than the rest of the request pipeline together (bench/results.md). The
 * access line comes from a Fastify hook instead, and lines written for a request carry its id
 * explicitly (`request_id`).
 */
@Global()
@Module({
  providers: [
    { provide: ROOT_LOGGER, inject: [APP_CONFIG], useFactory: (config: AppConfig) => createRootLogger(config.log.level) },
    {
      provide: Logger,
      inject: [ROOT_LOGGER],
      useFactory: (root: pino.Logger) => new Logger(new RootPinoLogger(root), {}),
    },
    AccessLog,
    {
      provide: AuditLog,
      inject: [ROOT_LOGGER, APP_CONFIG],
      useFactory: (root: pino.Logger, config: AppConfig) => new AuditLog(root, config.log.level),
    },
  ],
  exports: [ROOT_LOGGER, Logger, AccessLog, AuditLog],
})
export class LoggingModule {}
