import { Injectable } from '@nestjs/common';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { JwtService } from '@nestjs/jwt';
import { InjectConfig, type AppConfig } from '../../common/config';
import type { Role } from '../../common/auth';

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

/** Issues access tokens: HS256 JWTs with `sub`, `sid`, `role`, `iat`, `exp`, `iss`, `aud`. */
@Injectable()
export class TokenService {
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
   */
  issueAccessToken(input: { userId: string; sessionId: string; role: Role }): string {
    return this.jwt.sign(
      { sid: input.sessionId, role: input.role },
      {
        subject: input.userId,
        expiresIn: this.config.jwt.accessTtlSeconds,
        issuer: this.config.jwt.issuer,
        audience: this.config.jwt.audience,
        algorithm: 'HS256',
      },
    );
  }
}
