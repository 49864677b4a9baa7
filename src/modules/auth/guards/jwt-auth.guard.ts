import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { IS_PUBLIC, REQUIRED_ROLES, type AuthUser, type Role } from '../../../common/auth';
import { RouteMetadataCache } from '../../../common/http/route-metadata-cache';
import { authError } from '../auth.errors';
import { SessionRevocationStore } from '../session-revocation.store';

/**
 * Half of the global guard (RequestGuard runs it beside the rate limit): authenticates every
 * route not marked `@Public()` (passport JWT strategy, then one Redis look-up refusing tokens of
 * revoked sessions at once, on every replica), then enforces `@Roles(...)`. Errors become 401
 * `unauthenticated`/`invalid_token` or 403 `not_admin`. A Redis outage propagates (503): the
 * revocation check is never skipped.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly revocations: SessionRevocationStore,
  ) {
    super();
  }

  private readonly routes = new RouteMetadataCache((context) => {
    const targets = [context.getHandler(), context.getClass()];
    return {
      isPublic: this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, targets) === true,
      roles: this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets),
    };
  });

  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const route = this.routes.get(context);
    // Public routes (health probes, sign-in) are answered without a promise or a metadata walk.
    return route.isPublic ? true : this.authenticate(context, route.roles);
  }

  private async authenticate(context: ExecutionContext, roles: Role[] | undefined): Promise<boolean> {
    await (super.canActivate(context) as Promise<boolean>);
    const user = context.switchToHttp().getRequest<{ user: AuthUser }>().user;
    // Here rather than in the strategy: passport's strategy registry is process-wide, so with
    // two apps in one process (e2e replicas, the CLI) a strategy would use another app's Redis.
    if (await this.revocations.isRevoked(user.sessionId)) throw authError('invalid_token');
    if (roles?.length && !roles.includes(user.role)) throw authError('not_admin');
    return true;
  }

  override handleRequest<T = AuthUser>(err: unknown, user: T | false, info: unknown, context: ExecutionContext): T {
    // Any error fails closed; the filter maps it (a domain 401, or a 503 when Redis is down).
    if (err) throw err instanceof Error ? err : new Error('authentication failed', { cause: err });
    if (!user) {
      const header = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers.authorization;
      throw authError(header === undefined ? 'unauthenticated' : 'invalid_token');
    }
    void info;
    return user;
  }
}
