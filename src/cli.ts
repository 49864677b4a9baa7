import 'reflect-metadata';
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CommonModule } from './common/common.module';
import { loadConfigOrExit, type AppConfig } from './common/config';
import { parseAdminCommand, runAdminCommand, USAGE, type CliOutput } from './modules/auth/cli/admin-cli';
import { AuthModule } from './modules/auth/auth.module';

/** The application without HTTP: the same modules, configuration and database as the server. */
@Module({})
export class CliModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: CliModule, imports: [CommonModule.forRoot(config), AuthModule] };
  }
}

/** Exit code of a command that could not run (PostgreSQL or Redis unreachable, a schema not migrated). */
export const EXIT_FAILED = 3;

/**
 * `npm run cli -- grant-admin <email>` / `revoke-admin <email>` / `delete-user <email>` (or
 * `node dist/cli.js …` in a built image). Exit codes: 0 done, 1 no such user, 2 usage, 3 failed.
 * The arguments are checked before anything connects, and the CLI never migrates: it runs against
 * the schema the server's release applied. Exported so tests run it in-process against their own
 * database.
 */
export async function runCli(args: readonly string[], config: AppConfig, out: CliOutput, err: CliOutput): Promise<number> {
  const command = parseAdminCommand(args);
  if (!command) {
    err.write(`${USAGE}\n`);
    return 2;
  }
  let app: INestApplicationContext | undefined;
  try {
    const cliConfig: AppConfig = { ...config, database: { ...config.database, migrationsRun: false } };
    // No Nest logger: a failure is reported once, below, not as Nest's stack dumps.
    app = await NestFactory.createApplicationContext(CliModule.forRoot(cliConfig), { logger: false, abortOnError: false });
    return await runAdminCommand(app, command, out, err);
  } catch (error) {
    err.write(`cli failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILED;
  } finally {
    await app?.close().catch(() => undefined);
  }
}

if (require.main === module) {
  const config = loadConfigOrExit();
  void runCli(process.argv.slice(2), config, process.stdout, process.stderr).then((code) => process.exit(code));
}
