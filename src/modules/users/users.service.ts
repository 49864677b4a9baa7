import { Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { DataSource, type EntityManager } from 'typeorm';
import type { Role } from '../../common/auth';
import { isUniqueViolation } from '../../common/database/unique-violation';
import type { UserEntity } from './user.entity';
import { normalizeEmail } from './user-fields';
import type { NewConfirmedUser, ProfilePatch, PublicProfile, UserAccount, UserAuthRecord } from './user-records';
import { usersError } from './users.errors';
import { UsersRepository } from './users.repository';

export type { UserAccount, UserAuthRecord } from './user-records';

/**
 * Usernames held by someone other than a confirmed user (the auth module's unexpired pending
 * signups). The users module does not own that table, so auth registers this check with
 * {@link UsersService.useUsernameReservations} instead of the users module importing auth.
 */
export interface UsernameReservations {
  /**
   * Case-insensitive: is `username` held by an unexpired pending signup? Inside `manager`'s
   * transaction this first takes the lock signups take on the name, until that transaction ends:
   * a rename and a signup claiming one name at once are serialized, so one of them sees the other.
   */
  claimOrReserved(manager: EntityManager, username: string): Promise<boolean>;
}

export const UQ_USERS_USERNAME = 'uq_users_username_lower';
export const UQ_USERS_EMAIL = 'uq_users_email';

/**
 * The one way into the users table, for this module's routes and for the auth module (which
 * reads and creates users here instead of keeping its own copy of the entity logic).
 */
@Injectable()
export class UsersService {
  private reservations: UsernameReservations | undefined;

  constructor(
    private readonly repository: UsersRepository,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * Lets the auth module make renames respect unexpired pending signups' usernames (auth owns
   * those), without the users module importing auth (auth already imports users).
   */
  useUsernameReservations(reservations: UsernameReservations): void {
    this.reservations = reservations;
  }

  // ---- for the auth module -------------------------------------------------------------------

  /**
   * `manager`: read inside the caller's transaction. A caller holding a transaction (and a lock)
   * must pass it, or a burst of such callers can exhaust the pool waiting for a second connection.
   */
  async findAuthRecordByEmail(email: string, manager?: EntityManager): Promise<UserAuthRecord | null> {
    const user = await this.repository.findByEmail(normalizeEmail(email), manager);
    return user ? toAuthRecord(user) : null;
  }

  async findAuthRecordById(id: string): Promise<UserAuthRecord | null> {
    // A malformed id would be a PostgreSQL cast error (500); it simply matches nobody.
    if (!isUUID(id)) return null;
    const user = await this.repository.findById(id);
    return user ? toAuthRecord(user) : null;
  }

  /** Inserts a confirmed user inside the caller's transaction; 409 `username_taken` / `email_taken`. */
  async createConfirmedUser(manager: EntityManager, input: NewConfirmedUser): Promise<UserAuthRecord> {
    try {
      const user = await this.repository.insertConfirmed(manager, { ...input, email: normalizeEmail(input.email) });
      return toAuthRecord(user);
    } catch (error) {
      throw mapUniqueViolation(error);
    }
  }

  /** Case-insensitive. Every row of `users` is a confirmed user and holds its name through the unique index. */
  isUsernameTaken(username: string, manager?: EntityManager): Promise<boolean> {
    return this.repository.usernameExists(username, manager);
  }

  /**
   * For the admin CLI, inside its transaction: the id of the user with this email, whose row stays
   * locked until the transaction ends (a login opening a session waits for it); null when none.
   */
  lockForChange(manager: EntityManager, email: string): Promise<string | null> {
    return this.repository.lockByEmail(manager, normalizeEmail(email));
  }

  /** For the admin CLI, inside the transaction of {@link lockForChange}. */
  setRole(manager: EntityManager, id: string, role: Role): Promise<void> {
    return this.repository.updateRoleById(manager, id, role);
  }

  /** For the admin CLI, inside the transaction of {@link lockForChange}; the user's sessions and chats go with the row. */
  deleteUser(manager: EntityManager, id: string): Promise<void> {
    return this.repository.deleteById(manager, id);
  }

  /** For the admin lookup route: exact, case-insensitive, indexed match on the normalized email. */
  async findAccountByEmail(email: string): Promise<UserAccount | null> {
    const user = await this.repository.findByEmail(normalizeEmail(email));
    if (!user) return null;
    return {
      id: user.id,
      email: user.email,
      created_at: user.createdAt.toISOString(),
      email_confirmed_at: user.emailConfirmedAt?.toISOString() ?? null,
    };
  }

  // ---- profiles ------------------------------------------------------------------------------

  async getProfile(userId: string): Promise<PublicProfile> {
    const profile = await this.repository.findProfileById(userId);
    if (!profile) throw usersError('user_not_found');
    return profile;
  }

  async getProfileByUsername(username: string): Promise<PublicProfile> {
    const profile = await this.repository.findProfileByUsername(username);
    if (!profile) throw usersError('user_not_found');
    return profile;
  }

  async updateProfile(userId: string, patch: ProfilePatch): Promise<PublicProfile> {
    if (patch.username === undefined && patch.avatarUrl === undefined && patch.bio === undefined) {
      throw usersError('no_changes');
    }
    const { username } = patch;
    const reservations = this.reservations;
    let profile: PublicProfile | null;
    try {
      profile =
        username === undefined || !reservations
          ? await this.repository.updateProfile(userId, patch)
          : await this.dataSource.transaction(async (m) => {
              // Pending signups live in the auth module's table; under the lock signups take on the
              // name, this check and the UPDATE are one step for them. Confirmed users' names are
              // decided by the unique index.
              if (await reservations.claimOrReserved(m, username)) throw usersError('username_taken');
              return this.repository.updateProfile(userId, patch, m);
            });
    } catch (error) {
      throw mapUniqueViolation(error);
    }
    if (!profile) throw usersError('user_not_found');
    return profile;
  }
}

function mapUniqueViolation(error: unknown): unknown {
  if (isUniqueViolation(error, UQ_USERS_USERNAME)) return usersError('username_taken', { cause: error });
  if (isUniqueViolation(error, UQ_USERS_EMAIL)) return usersError('email_taken', { cause: error });
  return error;
}

function toAuthRecord(user: UserEntity): UserAuthRecord {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    passwordHash: user.passwordHash,
    role: user.role,
    emailConfirmedAt: user.emailConfirmedAt,
    createdAt: user.createdAt,
  };
}
