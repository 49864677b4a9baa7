import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A conversation, owned by the user who started it. Schema: CreateAgentChat migration. */
@Entity({ name: 'agent_chat_sessions' })
export class ChatSessionEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Column({ type: 'varchar', length: 120 })
  title!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt!: Date;
}
