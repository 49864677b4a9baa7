import type { IncomingHttpHeaders } from 'node:http';
import { Strategy } from 'passport-strategy';

/** RFC 6750 §2.1: `Bearer` (any case), one or more spaces, a b64token. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token of an `Authorization: Bearer <token>` header; undefined for any other header or none. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

export type VerifyBearerToken = (token: string, done: (error: unknown, user?: unknown) => void) => void;

/**
 * Passport strategy for bearer tokens in the `Authorization` header, and nowhere else: the
 * token goes to the verify callback (`PassportStrategy`'s `validate`), which says whose it is.
 *
 * Written here rather than taken from npm: passport-http-bearer also accepts `access_token` in
 * the query string and the body (RFC 6750 §2.2–2.3), where tokens end up in access logs and
 * browser histories; passport-jwt verifies the JWT itself, from scratch on every request (it was
 * ≈ 15 % of the server's CPU per `/users/me` request), so the verification, and what it may
 * remember, could not be ours (TokenService.verifyAccessToken).
 */
export class BearerTokenStrategy extends Strategy {
  name = 'bearer';

  constructor(private readonly verifyToken: VerifyBearerToken) {
    super();
  }

  override authenticate(req: { headers: IncomingHttpHeaders }): void {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) return this.fail(401);
    this.verifyToken(token, (error, user) => {
      if (error) this.error(error instanceof Error ? error : new Error('bearer token verification failed', { cause: error }));
      else if (user) this.success(user);
      else this.fail(401);
    });
  }
}
