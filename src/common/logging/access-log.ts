import type { FastifyInstance } from 'fastify';
import type pino from 'pino';

/** Probes hit these every few seconds per pod: their access lines would be noise. Failures still log. */
const PROBE_PATHS = new Set(['/api/v1/health', '/api/v1/infra/health']);

/**
 * One access line per request, written when the response is finished: request id, method, path
 * (without the query string, which may carry an email address), status and time. Info level
 * (`LOG_LEVEL=warn` keeps access lines out), error level for 5xx. A plain Fastify hook on the
 * root logger: no child logger and no async context per request (see logging.module.ts).
 */
export function installAccessLog(fastify: FastifyInstance, root: pino.Logger): void {
  if (!root.isLevelEnabled('info')) return; // error lines for 5xx still come from the problem filter
  // Without the root logger's redaction: an access line holds only the fields below, none of them
  // secret, and the wildcard redaction paths cost about 20 µs per line (7x the line itself).
  const access = root.child({}, { redact: { paths: [], censor: '[redacted]' } });
  fastify.addHook('onResponse', (request, reply, done) => {
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const status = reply.statusCode;
    if (status < 500 && PROBE_PATHS.has(path)) return done();
    access[status >= 500 ? 'error' : 'info'](
      {
        request_id: request.id,
        req: { method: request.method, url: path },
        res: { statusCode: status },
        responseTime: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    );
    done();
  });
}
