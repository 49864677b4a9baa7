import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ConfigModule, type AppConfig } from './config';
import { DatabaseModule } from './database/database.module';
import { ProblemFilter } from './errors/problem.filter';
import { createValidationPipe } from './http/validation';
import { LoggingModule } from './logging/logging.module';
import { RedisModule } from './redis/redis.module';
import { ThrottlingModule } from './throttling/throttling.module';

/**
 * Cross-cutting infrastructure. The filter and the pipe are providers (not `app.useGlobal*`),
 * so every app built from AppModule, test apps included, behaves exactly like production.
 */
@Module({})
export class CommonModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CommonModule,
      imports: [ConfigModule.forRoot(config), LoggingModule, DatabaseModule, RedisModule, ThrottlingModule],
      providers: [
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
