import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { AuthUser } from '../../../common/auth';
import { TokenService } from '../token.service';
import { BearerTokenStrategy } from './bearer-token.strategy';

/**
 * The bearer token's caller, from its signature and claims alone (TokenService: the key and a
 * memory of verified tokens, no connection), without the database or Redis. The revocation
 * check is the guard's (JwtAuthGuard): passport keeps strategies in one process-wide registry,
 * so a strategy must not hold per-app connections (with two apps in one process, e.g. e2e
 * replicas or the CLI, the last one registered serves both).
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(BearerTokenStrategy, 'jwt') {
  constructor(private readonly tokens: TokenService) {
    super();
  }

  /** `false` fails authentication (401 `invalid_token`, see JwtAuthGuard.handleRequest). */
  validate(token: string): AuthUser | false {
    return this.tokens.verifyAccessToken(token) ?? false;
  }
}
