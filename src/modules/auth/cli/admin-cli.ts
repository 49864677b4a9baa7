import type { INestApplicationContext } from '@nestjs/common';
import { UsersService } from '../../users/users.service';
import { SessionsService } from '../sessions/sessions.service';

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
 * 1 no such user; a failure of PostgreSQL or Redis throws, see cli.ts). A role change closes the
 * user's sessions, so no access token keeps the old role for up to an hour: the next login
 * carries the new one.
 */
export async function runAdminCommand(
  app: INestApplicationContext,
  command: AdminCommand,
  out: CliOutput,
  err: CliOutput,
): Promise<number> {
  const { name, email } = command;
  const users = app.get(UsersService);
  if (name === 'delete-user') return deleteUser(app, users, email, out, err);
  const role = name === 'grant-admin' ? 'admin' : 'user';
  if (!(await users.setRole(email, role))) {
    err.write(`no user with email ${email}\n`);
    return 1;
  }
  let closed: number;
  try {
    const user = await users.findAuthRecordByEmail(email);
    closed = user ? await app.get(SessionsService).revokeAllOfUser(user.id, `role_${role}`) : 0;
  } catch (error) {
    // The role is committed; say so, or the operator takes the whole command for undone.
    throw new Error(
      `${email}: role is now ${role}, but closing the user's sessions failed (${errorText(error)}); ` +
        'tokens with the old role may work until they expire: run the command again once PostgreSQL and Redis answer',
      { cause: error },
    );
  }
  out.write(`${email}: role is now ${role}; ${closed} session(s) closed\n`);
  return 0;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Deletes a user. Sessions are revoked first, in PostgreSQL and in Redis, so the user's access
 * tokens stop working at once on every replica (the guard never reads the users table); then the
 * row goes, and its sessions and chats with it.
 */
async function deleteUser(
  app: INestApplicationContext,
  users: UsersService,
  email: string,
  out: CliOutput,
  err: CliOutput,
): Promise<number> {
  const user = await users.findAuthRecordByEmail(email);
  if (!user) {
    err.write(`no user with email ${email}\n`);
    return 1;
  }
  const closed = await app.get(SessionsService).revokeAllOfUser(user.id, 'user_deleted');
  await users.deleteUser(email);
  out.write(`${email}: deleted; ${closed} session(s) closed\n`);
  return 0;
}
