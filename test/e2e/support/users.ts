import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import type { Role } from '../../../src/common/auth';
import { TokenService } from '../../../src/modules/auth/token.service';
import { UsersService } from '../../../src/modules/users/users.service';
import type { TestApp } from './test-app';

export interface TestUser {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly role: Role;
  readonly accessToken: string;
}

export interface TestUserOverrides {
  readonly username?: string;
  readonly email?: string;
  readonly role?: Role;
  /** Defaults to a placeholder that no password verifies against. */
  readonly passwordHash?: string;
}

/** A unique, valid username: `u_` + 12 hex characters. */
export const uniqueUsername = (prefix = 'u'): string => `${prefix}_${randomBytes(6).toString('hex')}`;

/**
 * A confirmed user created through the users service (as the signup flow does) and an access
 * token for a fresh session id, so tests need not go through the mailed-code signup.
 */
export async function createUser(t: TestApp, overrides: TestUserOverrides = {}): Promise<TestUser> {
  const users = t.app.get(UsersService);
  const username = overrides.username ?? uniqueUsername();
  const email = overrides.email ?? `${username.toLowerCase()}@example.test`;
  const role = overrides.role ?? 'user';
  const record = await t.app
    .get(DataSource)
    .transaction((manager) =>
      users.createConfirmedUser(manager, { username, email, role, passwordHash: overrides.passwordHash ?? '$argon2id$placeholder' }),
    );
  const accessToken = t.app.get(TokenService).issueAccessToken({ userId: record.id, sessionId: randomUUID(), role });
  return { id: record.id, username: record.username, email: record.email, role, accessToken };
}
