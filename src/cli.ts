import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CommonModule } from './common/common.module';
import { loadConfigOrExit, type AppConfig } from './common/config';
import { runAdminCommand, type CliOutput } from './modules/auth/cli/admin-cli';
import { AuthModule } from './modules/auth/auth.module';

/** The application without HTTP: the same modules, configuration and database as the server. */
@Module({})
export class CliModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: CliModule, imports: [CommonModule.forRoot(config), AuthModule] };
  }
}

/**
 * `npm run cli -- grant-admin <email>` / `revoke-admin <email>` (or `node dist/cli.js …` in a
 * built image). Exported so tests run it in-process against their own database.
 */
export async function runCli(args: readonly string[], config: AppConfig, out: CliOutput, err: CliOutput): Promise<number> {
  const app = await NestFactory.createApplicationContext(CliModule.forRoot(config), { logger: ['error'], abortOnError: false });
  try {
    return await runAdminCommand(app, args, out, err);
  } finally {
    await app.close();
  }
}

if (require.main === module) {
  const config = loadConfigOrExit();
  runCli(process.argv.slice(2), config, process.stdout, process.stderr).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`cli failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
