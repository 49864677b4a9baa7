import type { INestApplicationContext } from '@nestjs/common';
import { AccountChangesService } from '../sessions/account-changes.service';

export interface CliOutput {
  write(line: string): void;
}

export const USAGE = 'usage: npm run cli -- grant-admin <email> | revoke-admin <email> | delete-user <email>';

export interface AdminCommand {
  readonly name: 'grant-admin' | 'revoke-admin' | 'delete-user';
  readonly email: string;
}

/** The command the arguments name, or undefined (print the usage, exit 2): checked before anything connects. */
export function parseAdminCommand(args: readonly string[]): AdminCommand | undefined {
  const [name, email, ...rest] = args;
  if ((name !== 'grant-admin' && name !== 'revoke-admin' && name !== 'delete-user') || !email || rest.length > 0) return undefined;
  return { name, email };
}

/**
 * The admin commands, against a booted application context. Returns the process exit code (0 done,
 * 1 no such user; a failure of PostgreSQL or Redis throws, see cli.ts, and then nothing changed).
 * A role change closes the user's sessions in the same transaction, so no access token keeps the
 * old role for up to an hour, and no login racing the command keeps it: the next login carries
 * the new one (AccountChangesService).
 */
export async function runAdminCommand(
  app: INestApplicationContext,
  command: AdminCommand,
  out: CliOutput,
  err: CliOutput,
): Promise<number> {
  const { name, email } = command;
  const accounts = app.get(AccountChangesService);
  const role = name === 'grant-admin' ? 'admin' : 'user';
  const closed = name === 'delete-user' ? await accounts.deleteUser(email) : await accounts.setRole(email, role);
  if (closed === null) {
    err.write(`no user with email ${email}\n`);
    return 1;
  }
  out.write(
    name === 'delete-user'
      ? `${email}: deleted; ${closed} session(s) closed\n`
      : `${email}: role is now ${role}; ${closed} session(s) closed\n`,
  );
  return 0;
}
