import cors from '@fastify/cors';
import { Logger as NestLogger } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from './common/config';
import { rawClientErrorResponse } from './common/errors/problem';
import { sendProblem } from './common/errors/problem.filter';
import { trustImmediatePeer } from './common/http/client-ip';
import { completeOpenApiDocument } from './common/http/openapi-completion';
import { requestIdFor } from './common/http/request-id';
import { API_SECURITY_HEADERS, installSecurityHeaders } from './common/http/security-headers';
import { AccessLog, installAccessLog, logRouterAnswer } from './common/logging/access-log';
import { installPooledRandomValues } from './common/random/pooled-random-values';

export const API_PREFIX = 'api/v1';
/** The Swagger UI (an HTML page and its assets); the JSON document is at `${DOCS_PATH}-json`. */
const DOCS_PATH = 'api/docs';

/** Headers a browser client may read on cross-origin responses. */
const EXPOSED_HEADERS = [
  'Retry-After',
  'X-Request-Id',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'WWW-Authenticate',
];

export function createAdapter(config: AppConfig): FastifyAdapter {
  const frameworkLogger = new NestLogger('Problem');
  return new FastifyAdapter({
    // Router-level failures (bad percent-encoding, over-long path parameter) answer problem+json too.
    // Fastify answers them before any hook runs: the security headers are set here (the request id
    // by sendProblem).
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => {
      void reply.headers(API_SECURITY_HEADERS);
      sendProblem(error, request, reply, frameworkLogger);
      logRouterAnswer(request, reply); // no onResponse hook runs for these either
    },
    // Failures of Node's HTTP parser happen before any request exists: answer on the raw socket.
    clientErrorHandler: (error, socket) => {
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      const answer = rawClientErrorResponse(error);
      if (socket.writable) socket.write(answer.text);
      socket.destroy(error);
      // No hook runs for these: this is their access line, so the id the client got is in the log.
      frameworkLogger.log(
        { event: 'http.request_rejected', request_id: answer.requestId, code: answer.code },
        'request rejected by the HTTP parser',
      );
    },
    // No Nest middleware in this app (the access log is a Fastify hook): without @fastify/middie
    // every request skips one hook and its path matching. Adding a Nest middleware later fails at
    // start-up ("use is not a function"), so this cannot be forgotten silently.
    skipMiddie: true,
    logger: false, // our own pino root logger and access-log hook (common/logging)
    // TRUST_PROXY=true: behind one ingress, whose appended X-Forwarded-For entry is the client.
    trustProxy: config.http.trustProxy ? trustImmediatePeer : false,
    bodyLimit: config.http.bodyLimitBytes,
    // A request must arrive whole (headers and body) within this, or it is answered 408 and its
    // connection closed: Fastify's default (0) let a client trickle a body, or send headers
    // announcing one and then nothing, and hold its connection and buffers for good. It stops
    // counting once the request has arrived, so long answers (agent runs, event streams) are not
    // cut. Node checks it on a timer, and refuses a headers timeout longer than it.
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      headersTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(5000, Math.max(250, Math.round(config.http.requestTimeoutMs / 4))),
    },
    // find-my-way's default (100) answered a 101-character username with 414 where 31 to 100 got
    // the DTO's 422; 2048 matches the longest URL we accept anywhere (avatar_url). Longer ones are
    // still 414, and a request line past Node's 16 KiB header limit is 431.
    routerOptions: { maxParamLength: 2048 },
    genReqId: requestIdFor,
    requestIdHeader: false,
    // Idle keep-alive sockets are closed on shutdown; busy ones finish their request first.
    forceCloseConnections: 'idle',
    // Requests arriving while we close get our own problem+json 503 (see onRequest below).
    return503OnClosing: false,
  });
}

/**
 * Everything `main.ts` does to the app beyond creating it, shared with the e2e app factory so
 * tests exercise the production set-up.
 */
export async function configureApp(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  // Process-wide and idempotent; here rather than in main.ts so the e2e suites run the agent on it.
  installPooledRandomValues();
  app.useLogger(app.get(Logger));
  app.flushLogs();
  app.setGlobalPrefix(API_PREFIX);

  const fastify = app.getHttpAdapter().getInstance();
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (closing) {
      // A request that arrived on a kept-alive connection after shutdown began: close that
      // connection before any work, as a stopping server closes its idle ones, so the client
      // retries on another replica. (A 503 would make every deploy show up as failed requests.)
      reply.hijack();
      request.raw.socket.destroy();
      return;
    }
    done();
  });
  // Responses finished while shutting down tell the client not to reuse the connection.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // Bodies are JSON (CONTRACT.md): Fastify's built-in text/plain parser would hand a string to
  // validation (a 422) instead of the 415 every other content type gets. No route reads text.
  fastify.removeContentTypeParser('text/plain');
  // Body-parsing failures (bad JSON, 413, 415) reach ProblemFilter through Nest's own Fastify
  // error handler, which Nest installs when the routes are registered.

  installSecurityHeaders(fastify, `/${DOCS_PATH}`);
  installAccessLog(fastify, app.get(AccessLog));
  // Without CORS_ORIGINS there is no cross-origin access, and no plugin: @fastify/cors would
  // still copy its options for every request to add nothing (its OPTIONS route answers 404 then,
  // as an unknown route does without it).
  if (config.http.corsOrigins.length > 0) await registerCors(app, config.http.corsOrigins);

  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), { jsonDocumentUrl: `${DOCS_PATH}-json` });
}

async function registerCors(app: NestFastifyApplication, origins: readonly string[]): Promise<void> {
  await app.register(cors, {
    origin: [...origins],
    exposedHeaders: EXPOSED_HEADERS,
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'Accept-Language', 'X-Request-Id', 'Last-Event-ID'],
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    maxAge: 600,
  });
}

export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Runtime API')
    .setDescription('Signup with emailed codes, rotating sessions, profiles, agent chat and health. Errors are RFC 7807 problem+json.')
    .setVersion('1')
    .addBearerAuth()
    .build();
  return completeOpenApiDocument(SwaggerModule.createDocument(app, config), {
    probePaths: [`/${API_PREFIX}/health`, `/${API_PREFIX}/infra/health`],
  });
}
