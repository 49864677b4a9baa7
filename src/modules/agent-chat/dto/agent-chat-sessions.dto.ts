import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';
import { msg } from '../../../common/http/validation';

/** `GET /agent-chats` query. **Extension.** */
export class ListSessionsQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ context: msg('必须是整数', 'must be an integer') })
  @Min(1, { context: msg('须为 1–100', 'must be 1–100') })
  @Max(100, { context: msg('须为 1–100', 'must be 1–100') })
  limit?: number;

  @ApiPropertyOptional({ description: 'The `next_cursor` of the previous page' })
  @IsOptional()
  @IsString({ context: msg('必须是字符串', 'must be a string') })
  @MaxLength(200, { context: msg('无效的游标', 'is not a valid cursor') })
  @Matches(/^[A-Za-z0-9_-]+$/, { context: msg('无效的游标', 'is not a valid cursor') })
  cursor?: string;
}

export class SessionIdParamDto {
  @IsUUID('all', { context: msg('必须是 UUID', 'must be a UUID') })
  session_id!: string;
}

export class AgentChatSessionDto {
  @ApiProperty({ format: 'uuid' })
  session_id!: string;

  @ApiProperty({ description: 'The first message, shortened' })
  title!: string;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time', description: 'Last activity' })
  updated_at!: string;
}

export class AgentChatSessionPageDto {
  @ApiProperty({ type: [AgentChatSessionDto] })
  items!: AgentChatSessionDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last page' })
  next_cursor!: string | null;
}

export class AgentChatToolCallDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  args!: Record<string, unknown>;
}

export class AgentChatMessageDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ enum: ['user', 'assistant', 'tool'] })
  role!: 'user' | 'assistant' | 'tool';

  @ApiProperty()
  content!: string;

  @ApiPropertyOptional({ type: [AgentChatToolCallDto], description: 'assistant messages that called tools' })
  tool_calls?: AgentChatToolCallDto[];

  @ApiPropertyOptional({ description: 'tool messages: the call this answers' })
  tool_call_id?: string;

  @ApiPropertyOptional({ description: 'tool messages' })
  tool_name?: string;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

export class AgentChatSessionDetailDto extends AgentChatSessionDto {
  @ApiProperty({ type: [AgentChatMessageDto] })
  messages!: AgentChatMessageDto[];
}
