import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '../config';
import { MigrationRunner } from './migration-runner';
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
        // Failed queries surface as errors (logged by the problem filter when unexpected); expected
        // ones such as unique violations mapped to 409 must not flood the log.
        logging: ['warn', 'migration'],
      }),
    }),
  ],
  providers: [MigrationRunner],
})
export class DatabaseModule {}
