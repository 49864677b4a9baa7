import { Column, Entity, PrimaryColumn } from 'typeorm';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'aborted';

/** One agent run: the queryable run log (status, model, usage, timings, error code). */
@Entity({ name: 'agent_chat_runs' })
export class ChatRunEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId!: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: RunStatus;

  @Column({ type: 'varchar', length: 32 })
  provider!: string;

  @Column({ type: 'varchar', length: 200 })
  model!: string;

  @Column({ name: 'input_tokens', type: 'integer', nullable: true })
  inputTokens!: number | null;

  @Column({ name: 'output_tokens', type: 'integer', nullable: true })
  outputTokens!: number | null;

  @Column({ name: 'total_tokens', type: 'integer', nullable: true })
  totalTokens!: number | null;

  @Column({ name: 'model_calls', type: 'integer' })
  modelCalls!: number;

  @Column({ name: 'tool_calls', type: 'integer' })
  toolCalls!: number;

  @Column({ name: 'error_code', type: 'varchar', length: 64, nullable: true })
  errorCode!: string | null;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date;

  @Column({ name: 'first_event_at', type: 'timestamptz', nullable: true })
  firstEventAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ name: 'duration_ms', type: 'integer', nullable: true })
  durationMs!: number | null;
}
