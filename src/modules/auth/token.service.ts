import { Injectable } from '@nestjs/common';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { InjectConfig, type AppConfig } from '../../common/config';
import type { AuthUser, Role } from '../../common/auth';

export interface AccessTokenClaims {
  sub: string;
  sid: string;
  role: Role;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

const secretKeys = new WeakMap<AppConfig, KeyObject>();

/** The HS256 key as a KeyObject (one per configuration), for signing and verifying. */
export function jwtSecretKey(config: AppConfig): KeyObject {
  let key = secretKeys.get(config);
  if (!key) {
    key = createSecretKey(Buffer.from(config.jwt.secret, 'utf8'));
    secretKeys.set(config, key);
  }
  return key;
}

/**
 * How many verified access tokens one process remembers: enough for every client active within
 * a few minutes on one replica; at ≈ 0.5 KB each, at most ≈ 5 MB.
 */
const VERIFIED_TOKENS_MAX = 10_000;

interface VerifiedToken {
  readonly user: AuthUser;
  /** `exp` claim, seconds since the epoch. */
  readonly exp: number;
}

/** Issues and verifies access tokens: HS256 JWTs with `sub`, `sid`, `role`, `iat`, `exp`, `iss`, `aud`. */
@Injectable()
export class TokenService {
  /**
   * Tokens whose signature and claims were verified, by their exact text: a client sends the
   * same token with every request until it refreshes, and verifying it again (decoding, an HMAC,
   * claim checks) cost ≈ 15 % of the server's CPU per `/users/me` request (bench/results.md,
   * "Session 6"). Only the exact string that verified hits (any other byte is another key), the
   * expiry is checked again on every hit, and revocation is not cached at all (the guard asks
   * Redis every time). Tokens that fail are never stored, so junk cannot fill it; least recently
   * used ones go first.
   */
  private readonly verified = new LRUCache<string, VerifiedToken>({ max: VERIFIED_TOKENS_MAX });

  constructor(
    private readonly jwt: JwtService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  get accessTtlSeconds(): number {
    return this.config.jwt.accessTtlSeconds;
  }

  /**
   * Synchronous on purpose: an HS256 signature is one HMAC of a few hundred bytes (microseconds).
   * `signAsync` takes jsonwebtoken's callback path, which builds a jws sign stream per token and
   * cost more than the signature itself on every login and refresh (bench/results.md, "Session 5").
   * Every claim goes in the payload and no per-call options: given options, JwtService copies them
   * into a new object per call, and jsonwebtoken's option checks on that copy took 14–15 µs a
   * token against 5.7 µs with the claims alone (bench/results.md, "Session 11"). The algorithm
   * is the module's (HS256); jsonwebtoken still checks `iat` and `exp` are numbers.
   */
  issueAccessToken(input: { userId: string; sessionId: string; role: Role }): string {
    const iat = Math.floor(Date.now() / 1000);
    const claims: AccessTokenClaims = {
      sub: input.userId,
      sid: input.sessionId,
      role: input.role,
      iat,
      exp: iat + this.config.jwt.accessTtlSeconds,
      iss: this.config.jwt.issuer,
      aud: this.config.jwt.audience,
    };
    return this.jwt.sign(claims);
  }

  /**
   * The caller an access token names, or undefined when it is not a valid one of ours: HS256
   * only, our key, issuer and audience, not expired, with `sub`, `sid` and a known `role`.
   */
  verifyAccessToken(token: string): AuthUser | undefined {
    const now = Math.floor(Date.now() / 1000);
    const known = this.verified.get(token);
    if (known) {
      if (now < known.exp) return known.user;
      this.verified.delete(token); // expired: it can only be refused from now on
      return undefined;
    }
    let claims: Partial<AccessTokenClaims>;
    try {
      claims = this.jwt.verify<Partial<AccessTokenClaims>>(token, {
        algorithms: ['HS256'],
        issuer: this.config.jwt.issuer,
        audience: this.config.jwt.audience,
      });
    } catch {
      return undefined; // bad signature, algorithm, issuer, audience, expiry or encoding
    }
    const { sub, sid, role, exp } = claims;
    // jsonwebtoken accepts a token without `exp`; ours always carry one, so its absence is forgery.
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number' || (role !== 'user' && role !== 'admin')) {
      return undefined;
    }
    const user: AuthUser = { id: sub, sessionId: sid, role };
    // jsonwebtoken refuses a token once `now >= exp` (whole seconds); the hit above does the same.
    this.verified.set(token, { user, exp });
    return user;
  }
}
