import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { clientIp } from '../../common/http/client-ip';
import { negotiateLocale, type Locale } from '../../common/i18n/locale';

/** What the auth services need to know about the HTTP request, without depending on Fastify. */
export interface RequestMeta {
  readonly requestId: string;
  readonly ip: string;
  readonly userAgent: string | undefined;
  readonly locale: Locale;
}

export const ReqMeta = createParamDecorator((_data: unknown, ctx: ExecutionContext): RequestMeta => {
  const req = ctx.switchToHttp().getRequest<FastifyRequest>();
  const ua = req.headers['user-agent'];
  return {
    requestId: String(req.id),
    ip: clientIp(req),
    userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined,
    locale: negotiateLocale(req.headers['accept-language']),
  };
});
