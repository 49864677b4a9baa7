import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '../config';
import { MigrationRunner } from './migration-runner';
import { TypeOrmNestLogger } from './typeorm-logger';
import { typeOrmOptions } from './typeorm-options';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        ...typeOrmOptions(config.database.url, config.database.poolSize),
        autoLoadEntities: true,
        // PostgreSQL must answer at start-up (migrations need it); the orchestrator restarts us
        // otherwise. Later outages are survived: the pool reconnects by itself.
        retryAttempts: 3,
        retryDelay: 1000,
        logger: new TypeOrmNestLogger(),
      }),
    }),
  ],
  providers: [MigrationRunner],
})
export class DatabaseModule {}
