import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module';
import { AgentChatStream } from './agent-chat-stream';
import { AgentChatSessionsService } from './agent-chat-sessions.service';
import { AgentChatController } from './agent-chat.controller';
import { AgentChatService } from './agent-chat.service';
import { AgentRunBudget } from './agent-run-budget';
import { AgentRunner } from './llm/agent-runner';
import { ChatModelFactory } from './llm/chat-model.factory';
import { AgentChatRepository } from './persistence/agent-chat.repository';
import { ChatMessageEntity } from './persistence/chat-message.entity';
import { ChatRunEventEntity } from './persistence/chat-run-event.entity';
import { ChatRunEntity } from './persistence/chat-run.entity';
import { ChatSessionEntity } from './persistence/chat-session.entity';
import { DEFAULT_STALE_RUN_SWEEP_INTERVAL_MS, STALE_RUN_SWEEP_INTERVAL_MS, StaleRunSweeper } from './stale-run-sweeper';
import { AgentToolRegistry } from './tools/tool-registry';

/**
 * The web client's assistant: LangChain agent runs over persistent, per-user sessions, with
 * tools, AG-UI events and live streaming. LangChain itself is confined to llm/.
 */
@Module({
  imports: [TypeOrmModule.forFeature([ChatSessionEntity, ChatMessageEntity, ChatRunEntity, ChatRunEventEntity]), UsersModule],
  controllers: [AgentChatController],
  providers: [
    AgentChatService,
    AgentChatSessionsService,
    AgentChatStream,
    AgentChatRepository,
    AgentRunner,
    ChatModelFactory,
    AgentToolRegistry,
    AgentRunBudget,
    StaleRunSweeper,
    { provide: STALE_RUN_SWEEP_INTERVAL_MS, useValue: DEFAULT_STALE_RUN_SWEEP_INTERVAL_MS },
  ],
})
export class AgentChatModule {}
