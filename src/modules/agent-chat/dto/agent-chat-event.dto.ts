import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export const EVENT_TYPES = [
  'RUN_STARTED',
  'TEXT_MESSAGE_START',
  'TEXT_MESSAGE_CONTENT',
  'TEXT_MESSAGE_END',
  'TOOL_CALL_START',
  'TOOL_CALL_ARGS',
  'TOOL_CALL_END',
  'TOOL_CALL_RESULT',
  'RUN_FINISHED',
  'RUN_ERROR',
] as const;

/**
 * One run event (AG-UI `type` names, snake_case fields). Which fields are present depends on
 * `type`; see docs/api-routes.md "Agent Chat" for the table. Also the `data:` of each SSE event.
 */
export class AgentChatEventDto {
  @ApiProperty({ enum: EVENT_TYPES })
  type!: (typeof EVENT_TYPES)[number];

  @ApiPropertyOptional({ description: 'RUN_STARTED, RUN_FINISHED, RUN_ERROR' })
  run_id?: string;

  @ApiPropertyOptional({ description: 'RUN_STARTED' })
  session_id?: string;

  @ApiPropertyOptional({ description: 'TEXT_MESSAGE_*' })
  message_id?: string;

  @ApiPropertyOptional({ enum: ['assistant'], description: 'TEXT_MESSAGE_START' })
  role?: 'assistant';

  @ApiPropertyOptional({ description: 'TEXT_MESSAGE_CONTENT (text piece), TOOL_CALL_ARGS (JSON arguments piece)' })
  delta?: string;

  @ApiPropertyOptional({ description: 'TOOL_CALL_* (pairs parallel calls with their results)' })
  tool_call_id?: string;

  @ApiPropertyOptional({ description: 'TOOL_CALL_START, TOOL_CALL_RESULT' })
  tool_name?: string;

  @ApiPropertyOptional({ description: 'TOOL_CALL_START: the assistant message that made the call' })
  parent_message_id?: string;

  @ApiPropertyOptional({ description: 'TOOL_CALL_RESULT: what the tool returned (truncated)' })
  result?: string;

  @ApiPropertyOptional({ description: 'RUN_FINISHED: equals the concatenated deltas of the last assistant message' })
  output?: string;

  @ApiPropertyOptional({
    description:
      'RUN_ERROR: a sentence for the user; TOOL_CALL_RESULT: a short code when the tool failed ' +
      '(tool_failed, tool_timeout, invalid_input, tool_call_limit or unknown_tool)',
  })
  error?: string;

  @ApiPropertyOptional({
    description: 'RUN_ERROR only',
    enum: ['model_unavailable', 'model_error', 'model_timeout', 'aborted', 'internal_error'],
  })
  code?: string;
}
