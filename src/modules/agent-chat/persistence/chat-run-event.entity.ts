import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { AgUiEvent } from '../events/ag-ui-events';

/** The events a run produced, in order (`seq` is the SSE `id:`). */
@Entity({ name: 'agent_chat_run_events' })
export class ChatRunEventEntity {
  @PrimaryColumn({ name: 'run_id', type: 'uuid' })
  runId!: string;

  @PrimaryColumn({ type: 'integer' })
  seq!: number;

  @Column({ type: 'varchar', length: 32 })
  type!: AgUiEvent['type'];

  @Column({ type: 'jsonb' })
  data!: AgUiEvent;
}
