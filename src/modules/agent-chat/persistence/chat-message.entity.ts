import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { CompletedToolCall } from '../events/ag-ui-events';

export type ChatRole = 'user' | 'assistant' | 'tool';

/** One message of a session, in `seq` order; the model's history is rebuilt from these. */
@Entity({ name: 'agent_chat_messages' })
export class ChatMessageEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId!: string;

  @Column({ name: 'run_id', type: 'uuid', nullable: true })
  runId!: string | null;

  @Column({ type: 'integer' })
  seq!: number;

  @Column({ type: 'varchar', length: 16 })
  role!: ChatRole;

  @Column({ type: 'text' })
  content!: string;

  @Column({ name: 'tool_calls', type: 'jsonb', nullable: true })
  toolCalls!: CompletedToolCall[] | null;

  @Column({ name: 'tool_call_id', type: 'varchar', length: 128, nullable: true })
  toolCallId!: string | null;

  @Column({ name: 'tool_name', type: 'varchar', length: 64, nullable: true })
  toolName!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
