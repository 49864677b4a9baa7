import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem';

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
  if (problem.unexpected) {
    logger.error({ err: error, path: problem.body.instance, request_id: request.id }, 'unexpected error');
  } else if (problem.body.status >= 500) {
    logger.warn({ err: error, code: problem.body.code, request_id: request.id }, 'dependency failure');
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
