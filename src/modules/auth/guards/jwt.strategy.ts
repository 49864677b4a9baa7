import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AuthUser } from '../../../common/auth';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { authError } from '../auth.errors';
import { jwtSecretKey, type AccessTokenClaims } from '../token.service';

/**
 * Verifies the bearer token (signature, algorithm, expiry, issuer, audience) without touching
 * the database or Redis. The revocation check is the guard's (JwtAuthGuard): passport keeps
 * strategies in one process-wide registry, so a strategy must not hold per-app resources (with
 * two apps in one process, e.g. e2e replicas or the CLI, the last one registered serves both).
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(@InjectConfig() config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // passport-jwt hands this to jsonwebtoken, which takes a KeyObject (and then skips parsing
      // the secret as a PEM key on every request); its typings only name string | Buffer.
      secretOrKey: jwtSecretKey(config) as unknown as Buffer,
      algorithms: ['HS256'],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ignoreExpiration: false,
    });
  }

  validate(claims: Partial<AccessTokenClaims>): AuthUser {
    const { sub, sid, role, exp } = claims;
    // jsonwebtoken accepts a token without `exp`; ours always carry one, so its absence is forgery.
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number' || (role !== 'user' && role !== 'admin')) {
      throw authError('invalid_token');
    }
    return { id: sub, sessionId: sid, role };
  }
}
