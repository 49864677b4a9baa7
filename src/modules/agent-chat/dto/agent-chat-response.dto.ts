import { ApiProperty } from '@nestjs/swagger';
import { AgentChatEventDto } from './agent-chat-event.dto';

/** `POST /agent-chats` JSON answer. */
export class AgentChatResponseDto {
  @ApiProperty({ format: 'uuid' })
  session_id!: string;

  @ApiProperty({ description: 'The last assistant message' })
  output!: string;

  @ApiProperty({ type: [AgentChatEventDto] })
  events!: AgentChatEventDto[];
}
