import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentUser, type AuthUser } from '../../common/auth';
import { DomainError } from '../../common/errors/domain-error';
import { negotiateLocale } from '../../common/i18n/locale';
import { ApiProblems } from '../../common/http/api-problems.decorator';
import { NoRateLimit } from '../../common/throttling/rate-limit.decorator';
import { AgentChatStream, wantsEventStream } from './agent-chat-stream';
import { AgentChatSessionsService } from './agent-chat-sessions.service';
import { AgentChatService } from './agent-chat.service';
import { AgentRunBudget } from './agent-run-budget';
import { AgentChatEventDto } from './dto/agent-chat-event.dto';
import { AgentChatResponseDto } from './dto/agent-chat-response.dto';
import { AgentChatSessionDetailDto, AgentChatSessionPageDto, ListSessionsQueryDto, SessionIdParamDto } from './dto/agent-chat-sessions.dto';
import { CreateAgentChatDto } from './dto/create-agent-chat.dto';

/** Problems of POST /agent-chats answered before a run opens. */
const NOT_A_RUN = new Set(['session_not_found', 'run_in_progress']);

@ApiTags('agent-chat')
@ApiBearerAuth()
@Controller('agent-chats')
export class AgentChatController {
  constructor(
    private readonly chat: AgentChatService,
    private readonly stream: AgentChatStream,
    private readonly sessions: AgentChatSessionsService,
    private readonly budget: AgentRunBudget,
  ) {}

  @Post()
  @HttpCode(200)
  @NoRateLimit() // its own limit only: 20 runs per minute per user (AgentRunBudget)
  @ApiOperation({
    summary: 'Run the agent on a message',
    description:
      'JSON by default; with `Accept: text/event-stream` the same events stream as Server-Sent Events (`event: <type>`, `id: <seq>`, `data: <event JSON>`, a `: heartbeat` comment every 15 s). Each SSE `data` is an AgentChatEventDto.',
  })
  @ApiExtraModels(AgentChatResponseDto, AgentChatEventDto)
  @ApiOkResponse({
    description: 'The run: as one JSON answer, or as Server-Sent Events with `Accept: text/event-stream`.',
    content: {
      'application/json': { schema: { $ref: getSchemaPath(AgentChatResponseDto) } },
      'text/event-stream': {
        schema: {
          type: 'string',
          description: `Frames \`event: <type>\\nid: <seq>\\ndata: <JSON>\\n\\n\`, each data one ${AgentChatEventDto.name}; \`: heartbeat\` comments in between.`,
        },
      },
    },
  })
  @ApiProblems({
    401: 'unauthenticated, invalid_token',
    404: 'session_not_found',
    409: 'run_in_progress',
    422: 'validation_failed',
    429: 'rate_limited',
    502: 'model_error',
    503: 'model_unavailable',
    504: 'model_timeout',
  })
  async run(
    @CurrentUser() user: AuthUser,
    @Body() body: CreateAgentChatDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AgentChatResponseDto | undefined> {
    await this.budget.take(user.id, reply);
    try {
      return await this.runCounted(user, body, req, reply);
    } catch (error) {
      // Refused before a run opened: not a run, so not one of the user's runs per minute.
      if (error instanceof DomainError && NOT_A_RUN.has(error.code)) await this.budget.giveBack(user.id, reply).catch(() => undefined);
      throw error;
    }
  }

  private async runCounted(
    user: AuthUser,
    body: CreateAgentChatDto,
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<AgentChatResponseDto | undefined> {
    const locale = negotiateLocale(req.headers['accept-language']);
    if (wantsEventStream(req.headers.accept)) return this.stream.run(user, body, locale, reply, req.id).then(() => undefined);
    // A JSON caller that hangs up also cancels its run (model call and tools), like an SSE one.
    const client = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableEnded) client.abort();
    };
    // The response's 'close' (not the request's, which fires once the body is read) means the socket went away.
    reply.raw.once('close', onClose);
    try {
      return await this.chat.runToCompletion(user, body.message, body.session_id, {
        locale,
        clientSignal: client.signal,
        requestId: req.id,
      });
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'shutting_down')) throw error;
      // The run was aborted because this replica is stopping (and recorded as such): drop the
      // connection like any connection a stopping server closes, so the client retries on another
      // replica, rather than answering a 5xx for a deploy.
      reply.hijack();
      reply.raw.destroy();
      return undefined;
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  @Get()
  @ApiOperation({ summary: 'My chat sessions, newest activity first (Extension)' })
  @ApiOkResponse({ type: AgentChatSessionPageDto })
  @ApiProblems({ 401: 'unauthenticated, invalid_token', 422: 'validation_failed' })
  list(@CurrentUser() user: AuthUser, @Query() query: ListSessionsQueryDto): Promise<AgentChatSessionPageDto> {
    return this.sessions.list(user, query.limit, query.cursor);
  }

  @Get(':session_id')
  @ApiOperation({ summary: 'One of my chat sessions with its messages (Extension)' })
  @ApiOkResponse({ type: AgentChatSessionDetailDto })
  @ApiProblems({ 401: 'unauthenticated, invalid_token', 404: 'session_not_found', 422: 'validation_failed' })
  get(@CurrentUser() user: AuthUser, @Param() params: SessionIdParamDto): Promise<AgentChatSessionDetailDto> {
    return this.sessions.get(user, params.session_id);
  }
}
