import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../../common/auth';
import { commonError } from '../../common/errors/common-errors';
import { msg } from '../../common/http/validation';
import { agentChatError } from './agent-chat.errors';
import type {
  AgentChatMessageDto,
  AgentChatSessionDetailDto,
  AgentChatSessionDto,
  AgentChatSessionPageDto,
} from './dto/agent-chat-sessions.dto';
import { AgentChatRepository } from './persistence/agent-chat.repository';
import type { ChatMessageEntity } from './persistence/chat-message.entity';
import type { ChatSessionEntity } from './persistence/chat-session.entity';

export const DEFAULT_PAGE_SIZE = 20;

/** Read side for the web client (**Extension**): the caller's sessions and a session's messages. */
@Injectable()
export class AgentChatSessionsService {
  constructor(private readonly repository: AgentChatRepository) {}

  async list(user: AuthUser, limit = DEFAULT_PAGE_SIZE, cursor?: string): Promise<AgentChatSessionPageDto> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const rows = await this.repository.listSessions(user.id, limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toSessionDto), next_cursor: rows.length > limit && last ? encodeCursor(last) : null };
  }

  async get(user: AuthUser, sessionId: string): Promise<AgentChatSessionDetailDto> {
    const session = await this.repository.findOwnedSession(user.id, sessionId);
    if (!session) throw agentChatError('session_not_found');
    const messages = await this.repository.listMessages(session.id);
    return { ...toSessionDto(session), messages: messages.map(toMessageDto) };
  }
}

function toSessionDto(s: ChatSessionEntity): AgentChatSessionDto {
  return { session_id: s.id, title: s.title, created_at: s.createdAt.toISOString(), updated_at: s.updatedAt.toISOString() };
}

function toMessageDto(m: ChatMessageEntity): AgentChatMessageDto {
  const dto: AgentChatMessageDto = { id: m.id, role: m.role, content: m.content, created_at: m.createdAt.toISOString() };
  if (m.toolCalls?.length) dto.tool_calls = m.toolCalls.map((c) => ({ id: c.id, name: c.name, args: c.args }));
  if (m.toolCallId) dto.tool_call_id = m.toolCallId;
  if (m.toolName) dto.tool_name = m.toolName;
  return dto;
}

/** Opaque keyset cursor: the last row's (updated_at, id). */
function encodeCursor(s: ChatSessionEntity): string {
  return Buffer.from(`${s.updatedAt.toISOString()}|${s.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { updatedAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const updatedAt = new Date(iso ?? '');
  if (!id || !/^[0-9a-f-]{36}$/i.test(id) || Number.isNaN(updatedAt.getTime())) {
    throw commonError('validation_failed', { errors: [{ field: 'cursor', message: msg('无效的游标', 'is not a valid cursor') }] });
  }
  return { updatedAt, id };
}
