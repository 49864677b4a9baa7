import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { msg } from '../../../common/http/validation';

export const MESSAGE_MAX_LENGTH = 8000;

/** `POST /agent-chats`. */
export class CreateAgentChatDto {
  @ApiProperty({ minLength: 1, maxLength: MESSAGE_MAX_LENGTH, example: 'What is (2 + 3) * 4?' })
  @IsString({ context: msg('必须是字符串', 'must be a string') })
  @Length(1, MESSAGE_MAX_LENGTH, {
    context: msg(`长度须为 1–${MESSAGE_MAX_LENGTH} 个字符`, `must be 1–${MESSAGE_MAX_LENGTH} characters long`),
  })
  message!: string;

  @ApiPropertyOptional({
    format: 'uuid',
    nullable: true,
    description: 'Continue this session; absent, null or unknown starts a new one (with this id when one is given).',
  })
  // `null` (what a client sends before it has a session) means the same as an absent field.
  @Transform(({ value }: { value: unknown }) => value ?? undefined)
  @IsOptional()
  @IsUUID('all', { context: msg('必须是 UUID', 'must be a UUID') })
  session_id?: string;
}
