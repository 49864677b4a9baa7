import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What every API response (JSON, problem+json, the agent's event stream) carries: the set the OWASP
 * REST Security Cheat Sheet recommends for APIs, plus CORP and Referrer-Policy. `no-store` keeps
 * tokens (RFC 6749 §5.1 requires it on token responses) and profiles out of every cache; the CSP
 * lets nothing load or frame a response that a browser is somehow made to render. Helmet's other
 * headers (COOP, Origin-Agent-Cluster, X-DNS-Prefetch-Control, X-Download-Options, …) govern HTML
 * documents and do nothing for JSON; they stay on the one HTML page we serve, the Swagger UI.
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/** The Swagger UI page needs scripts and styles from itself. */
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
 * Helmet's headers for the docs page, computed once. `@fastify/helmet` calls `helmet(options)`
 * again on every request (re-parsing the CSP directives each time, through two extra hooks), which
 * cost more than a whole Nest route in the bench. Our options are static (no per-request nonces), so the
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

/**
 * {@link API_SECURITY_HEADERS} on every response; helmet's full set, with a CSP that lets the page
 * run its own scripts, under `docsPath` (the Swagger UI and its assets).
 */
export function installSecurityHeaders(fastify: FastifyInstance, docsPath: string): void {
  const docs = securityHeaders();
  const isDocs = (url: string): boolean =>
    url.startsWith(docsPath) && (url.length === docsPath.length || url[docsPath.length] === '/' || url[docsPath.length] === '?');
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(isDocs(request.url) ? docs : API_SECURITY_HEADERS);
    done();
  });
}
