import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { noteProblemCode, userIdOf } from '../logging/access-log';
import { serializeErrorBrief } from '../logging/error-serializer';
import { POOL_WAIT_TIMEOUT_MESSAGE, PROBLEM_CONTENT_TYPE, toProblem } from './problem';

/**
 * pg-pool's message for a request that found no free connection in time: PostgreSQL may be fine
 * and the pool full (DB_POOL_SIZE), which the same 503 would otherwise hide.
 */
function hintFor(error: unknown, depth = 0): string | undefined {
  if (!(error instanceof Error) || depth > 4) return undefined;
  if (error.message.includes(POOL_WAIT_TIMEOUT_MESSAGE)) {
    return 'no database connection was free within the connect timeout: the pool (DB_POOL_SIZE) may be exhausted rather than PostgreSQL down';
  }
  return hintFor(error.cause, depth + 1) ?? hintFor((error as { driverError?: unknown }).driverError, depth + 1);
}

/**
 * The single global filter (registered as APP_FILTER, so test apps get it too): every error
 * leaves the service as problem+json.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('Problem');

  catch(error: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const request = ctx.getRequest<FastifyRequest>();
    const reply = ctx.getResponse<FastifyReply>();
    sendProblem(error, request, reply, this.logger);
  }
}

export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: Pick<Logger, 'error' | 'warn'>): void {
  const problem = toProblem(error, request);
  const code = problem.body.code;
  noteProblemCode(request, code);
  if (problem.body.status >= 500) {
    const context = {
      code,
      request_id: request.id,
      method: request.method,
      path: problem.body.instance,
      user_id: userIdOf(request),
    };
    // A bug: the whole error with its stack. A known failure (an outage, shedding load, a model
    // failure): what and why without the stack, one line per request while it lasts.
    if (problem.unexpected) logger.error({ err: error, ...context }, 'unexpected error');
    else
      logger.warn(
        { error: serializeErrorBrief(error), ...context, hint: hintFor(error) },
        code === 'dependency_unavailable' ? 'dependency failure' : `failure answered: ${code}`,
      );
  }
  // A streamed response (SSE) whose headers are out cannot become a problem any more.
  if (reply.sent || reply.raw.headersSent) {
    if (!reply.raw.writableEnded) reply.raw.end();
    return;
  }
  void reply
    .status(problem.body.status)
    .headers({ ...problem.headers, 'x-request-id': request.id })
    .type(PROBLEM_CONTENT_TYPE)
    .send(problem.body);
}
