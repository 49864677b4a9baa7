import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import { InjectConfig, type AppConfig } from '../config';

/** Probes hit these every few seconds per pod: their access lines would be noise. Failures still log. */
const PROBE_PATHS = new Set(['/api/v1/health', '/api/v1/infra/health']);
/** Longer paths are cut in the log line (a path can be as long as the request line allows). */
const MAX_LOGGED_PATH = 1024;
/** Write when this much is buffered… */
const BATCH_CHARS = 3072;
/** …in writes below PIPE_BUF (4096 on Linux): a container's stdout is a pipe, where such a write is atomic. */
const MAX_WRITE_CHARS = 4000;
const FLUSH_EVERY_MS = 1000;

/**
 * The access log's own pino logger and stdout destination. Access lines are batched: one write(2)
 * per ≈ 15 lines instead of one per line (4–18 % of the server's CPU per `/users/me` request in
 * paired runs, bench/results.md "Session 6"), at least once a second, at shutdown, and at exit by
 * pino's own exit hook. The writes are synchronous: a few microseconds per batch on the event
 * loop, never queued on the libuv pool behind argon2 hashes, nothing in flight to lose at exit.
 * Each batch is written whole and atomically, so it never lands inside a line of the root logger,
 * whose warnings and errors are never held back. No redaction: a line holds only the fields
 * below, none of them secret (the root logger's wildcard redaction paths cost about 20 µs per
 * line, 7x the line itself).
 */
@Injectable()
export class AccessLog implements OnApplicationShutdown {
  private readonly destination = pino.destination({
    dest: 1,
    sync: true,
    minLength: BATCH_CHARS,
    maxWrite: MAX_WRITE_CHARS,
    periodicFlush: FLUSH_EVERY_MS,
  });
  readonly logger: pino.Logger;

  constructor(@InjectConfig() config: AppConfig) {
    this.logger = pino({ level: config.log.level }, this.destination);
  }

  onApplicationShutdown(): void {
    this.destination.flushSync();
  }
}

const PROBLEM_CODE = Symbol('problemCode');
type NotedRequest = FastifyRequest & { [PROBLEM_CODE]?: string; user?: { id?: string } };

/** The authenticated caller's id (set by the bearer-token guard), if any. */
export function userIdOf(request: FastifyRequest): string | undefined {
  return (request as NotedRequest).user?.id;
}

/** Records the problem code a request was answered with, for its access line. */
export function noteProblemCode(request: FastifyRequest, code: string): void {
  (request as NotedRequest)[PROBLEM_CODE] = code;
}

/** Each app's line writer, for the requests its router answers before any hook runs. */
const writers = new WeakMap<FastifyInstance, (request: FastifyRequest, reply: FastifyReply) => void>();

/**
 * One access line per request, written when the response is finished: request id, method, path
 * (without the query string, which may carry an email address), status, time, and when there is
 * one the problem code and the authenticated user's id. Info level
 * (`LOG_LEVEL=warn` keeps access lines out), error level for 5xx. A plain Fastify hook: no child
 * logger and no async context per request (see logging.module.ts).
 */
export function installAccessLog(fastify: FastifyInstance, log: AccessLog): void {
  const access = log.logger;
  if (!access.isLevelEnabled('info')) return; // error lines for 5xx still come from the problem filter
  const write = (request: FastifyRequest, reply: FastifyReply): void => {
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const status = reply.statusCode;
    if (status < 500 && PROBE_PATHS.has(path)) return;
    const noted = request as NotedRequest;
    access[status >= 500 ? 'error' : 'info'](
      {
        request_id: request.id,
        req: { method: request.method, url: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}...` : path },
        res: { statusCode: status },
        responseTime: Math.round(reply.elapsedTime * 100) / 100,
        // Which 401 or 429 it was, and whose request: absent (not written) when there is none.
        code: noted[PROBLEM_CODE],
        user_id: userIdOf(request),
      },
      'request completed',
    );
  };
  writers.set(fastify, write);
  fastify.addHook('onResponse', (request, reply, done) => {
    write(request, reply);
    done();
  });
}

/**
 * The access line of a request the router answered itself (bad percent-encoding, an over-long
 * path parameter: Fastify's `frameworkErrors`), for which no hook runs. Call once it is answered.
 */
export function logRouterAnswer(request: FastifyRequest, reply: FastifyReply): void {
  writers.get(request.server)?.(request, reply);
}
