import type { INestApplicationContext } from '@nestjs/common';
import { UsersService } from '../../users/users.service';
import { SessionsService } from '../sessions/sessions.service';

export interface CliOutput {
  write(line: string): void;
}

const USAGE = 'usage: npm run cli -- grant-admin <email> | revoke-admin <email> | delete-user <email>';

/**
 * The admin commands, against a booted application context. Returns the process exit code.
 * A role change closes the user's sessions, so no access token keeps the old role for up to an
 * hour: the next login carries the new one.
 */
export async function runAdminCommand(
  app: INestApplicationContext,
  args: readonly string[],
  out: CliOutput,
  err: CliOutput,
): Promise<number> {
  const [command, email, ...rest] = args;
  if ((command !== 'grant-admin' && command !== 'revoke-admin' && command !== 'delete-user') || !email || rest.length > 0) {
    err.write(`${USAGE}\n`);
    return 2;
  }
  const users = app.get(UsersService);
  if (command === 'delete-user') return deleteUser(app, users, email, out, err);
  const role = command === 'grant-admin' ? 'admin' : 'user';
  if (!(await users.setRole(email, role))) {
    err.write(`no user with email ${email}\n`);
    return 1;
  }
  const user = await users.findAuthRecordByEmail(email);
  const closed = user ? await app.get(SessionsService).revokeAllOfUser(user.id, `role_${role}`) : 0;
  out.write(`${email}: role is now ${role}; ${closed} session(s) closed\n`);
  return 0;
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
