import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The API serves JSON; only the Swagger UI page needs scripts and styles from itself. */
const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
    },
  },
};

/**
 * Helmet's headers, computed once. `@fastify/helmet` calls `helmet(options)` again on every
 * request (re-parsing the CSP directives each time, through two extra hooks), which cost more
 * than a whole Nest route in the bench. Our options are static (no per-request nonces), so the
 * headers are too: we run helmet's own middleware once against a recording response and set
 * the recorded headers with one `reply.headers()` per request.
 */
export function securityHeaders(options: HelmetOptions = HELMET_OPTIONS): Readonly<Record<string, string>> {
  const csp = options.contentSecurityPolicy;
  const directives = typeof csp === 'object' ? Object.values(csp.directives ?? {}) : [];
  if (directives.some((values) => values !== null && typeof values === 'object' && [...values].some((v) => typeof v === 'function'))) {
    throw new Error('per-request CSP values (nonces) cannot be precomputed; set them per request instead');
  }
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: unknown) {
      if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`helmet set a non-static header ${name}`);
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  } as unknown as ServerResponse;
  let completed = false;
  helmet(options)({ headers: {} } as IncomingMessage, recorder, (error?: unknown) => {
    if (error) throw error instanceof Error ? error : new Error('helmet failed to compute its headers');
    completed = true;
  });
  if (!completed) throw new Error('helmet did not complete synchronously');
  return Object.freeze(headers);
}

export function installSecurityHeaders(fastify: FastifyInstance): void {
  const headers = securityHeaders();
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
}
