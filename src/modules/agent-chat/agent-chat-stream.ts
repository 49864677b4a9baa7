import { Injectable, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { AuthUser } from '../../common/auth';
import { InjectConfig, type AppConfig } from '../../common/config';
import type { Locale } from '../../common/i18n/locale';
import { AgentChatService } from './agent-chat.service';
import type { CreateAgentChatDto } from './dto/create-agent-chat.dto';
import type { AgUiEvent } from './events/ag-ui-events';

/** True when the client asked for Server-Sent Events (`Accept: text/event-stream`). */
/**
 * Whether the caller asked for the event stream: `text/event-stream` acceptable (q > 0) and
 * preferred at least as much as JSON (`application/json`, `application/*` or `*\/*`), so
 * `application/json, text/event-stream;q=0.5` still gets JSON. Hand-written: the only choice
 * between two media types, which a negotiation library would not make simpler.
 */
export function wantsEventStream(accept: string | undefined): boolean {
  let sse = 0;
  let json = 0;
  for (const range of (accept ?? '').split(',')) {
    const [rawType, ...params] = range.split(';');
    const type = rawType?.trim().toLowerCase();
    const qParam = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'text/event-stream') sse = Math.max(sse, q);
    else if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, q);
  }
  return sse > 0 && sse >= json;
}

export function formatSse(event: AgUiEvent, seq: number): string {
  return `event: ${event.type}\nid: ${seq}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * The SSE answer of `POST /agent-chats`. Ownership, the one-run guard and the user's message
 * are settled first (so those errors are still problem+json); only then are headers sent. A
 * client that disconnects aborts the run: model call and tools.
 */
@Injectable()
export class AgentChatStream {
  private readonly logger = new Logger('AgentChatStream');

  constructor(
    private readonly chat: AgentChatService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async run(user: AuthUser, body: CreateAgentChatDto, locale: Locale, reply: FastifyReply, requestId: string): Promise<void> {
    const run = await this.chat.open(user, body.message, body.session_id);
    reply.hijack(); // from here on we own the socket; Nest and Fastify will not answer
    const raw = reply.raw;
    const headers = Object.fromEntries(
      Object.entries(reply.getHeaders()).filter((e): e is [string, string | number | string[]] => e[1] !== undefined),
    );
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform', // private content; proxies must not recompress (and so buffer) it
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx-style proxies: do not buffer the stream
    });
    const client = new AbortController();
    raw.on('close', () => {
      if (!raw.writableEnded) client.abort();
    });
    // A client that left while the run was being opened closed the response before anyone
    // listened: the run is aborted (and recorded so) at once instead of going on unheard.
    if (raw.destroyed) client.abort();
    const write = (chunk: string): void => {
      if (!raw.writableEnded && !raw.destroyed) raw.write(chunk);
    };
    const heartbeat = setInterval(() => write(': heartbeat\n\n'), this.config.llm.sseHeartbeatMs);
    try {
      await this.chat.execute(user, run, {
        locale,
        requestId,
        clientSignal: client.signal,
        emit: (event, seq) => write(formatSse(event, seq)),
      });
    } catch (error) {
      // Headers are out: nothing left to answer. The run row is swept as stale later.
      this.logger.error(
        {
          err: error,
          event: 'agent_chat.run_unrecorded',
          run_id: run.runId,
          session_id: run.sessionId,
          user_id: user.id,
          request_id: requestId,
        },
        'streamed agent run could not be recorded',
      );
    } finally {
      clearInterval(heartbeat);
      if (!raw.writableEnded) raw.end();
    }
  }
}
