import { DynamicModule, Module } from '@nestjs/common';
import { CommonModule } from './common/common.module';
import type { AppConfig } from './common/config';
import { AgentChatModule } from './modules/agent-chat/agent-chat.module';
import { AuthModule } from './modules/auth/auth.module';
import { HealthModule } from './modules/health/health.module';
import { UsersModule } from './modules/users/users.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [CommonModule.forRoot(config), AuthModule, HealthModule, UsersModule, AgentChatModule],
    };
  }
}
