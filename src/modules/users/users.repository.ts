import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isUUID } from 'class-validator';
import type { EntityManager, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { batchedLookup } from '../../common/database/batched-lookup';
import { preparedStatement, runPrepared } from '../../common/database/prepared-statement';
import { UserEntity } from './user.entity';
import type { NewConfirmedUser, ProfilePatch, PublicProfile } from './user-records';

// A raw column list: TypeORM reads an array here as property names and drops the snake_case ones.
const PROFILE_COLUMNS = 'id, username, avatar_url, bio';

/** Every column, aliased to the entity's property names. */
const ENTITY_COLUMNS = `id, username, email, password_hash AS "passwordHash", role, avatar_url AS "avatarUrl", bio,
  email_confirmed_at AS "emailConfirmedAt", created_at AS "createdAt", updated_at AS "updatedAt"`;

// Hot statements (every login, every profile read), prepared once per connection.
const USER_BY_EMAIL = preparedStatement(`SELECT ${ENTITY_COLUMNS} FROM users WHERE email = $1`);
const PROFILES_BY_ID = preparedStatement(`SELECT ${PROFILE_COLUMNS} FROM users WHERE id = ANY($1::uuid[])`);
// Written as the index expression so the planner uses uq_users_username_lower. Usernames are
// ASCII ([A-Za-z0-9_], ck_users_username_format), where lower() and toLowerCase() agree.
const PROFILES_BY_USERNAME = preparedStatement(`SELECT ${PROFILE_COLUMNS} FROM users WHERE lower(username) = ANY($1::text[])`);

interface ProfileRow {
  id: string;
  username: string;
  avatar_url: string | null;
  bio: string | null;
}

/**
 * The users table's queries. Every lookup is by primary key, by `email` (uq_users_email) or by
 * `lower(username)` (uq_users_username_lower), so each one hits an index.
 */
@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(UserEntity) private readonly users: Repository<UserEntity>) {}

  /** Refresh of a session from before the SessionUserSnapshot migration (rare: not a prepared statement). */
  async findById(id: string): Promise<UserEntity | null> {
    const rows = await this.users.query<Partial<UserEntity>[]>(`SELECT ${ENTITY_COLUMNS} FROM users WHERE id = $1`, [id]);
    return rows[0] ? Object.assign(new UserEntity(), rows[0]) : null;
  }

  /**
   * `email` must already be normalized. `manager`: run inside the caller's transaction (on its
   * connection) instead of the pool. Plain SQL, prepared: every login reads the user by email.
   */
  async findByEmail(email: string, manager?: EntityManager): Promise<UserEntity | null> {
    const rows = await runPrepared<Partial<UserEntity>[]>(manager ?? this.users.manager, USER_BY_EMAIL, [email]);
    return rows[0] ? Object.assign(new UserEntity(), rows[0]) : null;
  }

  private repo(manager: EntityManager | undefined): Repository<UserEntity> {
    return manager ? manager.getRepository(UserEntity) : this.users;
  }

  // The two profile reads run on every `GET /users/me` and `/users/{username}`: plain SQL on the
  // pool, since TypeORM's query builder cost more CPU than the indexed read itself, and batched
  // across concurrent requests (one query per event-loop turn instead of one per request), since on
  // this platform waking a PostgreSQL backend costs more than the read (bench/results.md).
  private readonly profileById = batchedLookup<string, PublicProfile>(async (ids) => {
    // One malformed id would fail the whole batch with a cast error: such ids match nobody.
    const valid = ids.filter((id) => isUUID(id));
    if (valid.length === 0) return new Map();
    const rows = await runPrepared<ProfileRow[]>(this.users, PROFILES_BY_ID, [valid]);
    return new Map(rows.map((row) => [row.id, toProfile(row)]));
  });

  private readonly profileByUsername = batchedLookup<string, PublicProfile>(async (lowered) => {
    const rows = await runPrepared<ProfileRow[]>(this.users, PROFILES_BY_USERNAME, [lowered]);
    return new Map(rows.map((row) => [row.username.toLowerCase(), toProfile(row)]));
  });

  /** Batched (see above). */
  findProfileById(id: string): Promise<PublicProfile | null> {
    // PostgreSQL prints uuids in lower case; the batch is keyed by that form.
    return this.profileById(id.toLowerCase());
  }

  /** Batched (see above); case-insensitive. */
  findProfileByUsername(username: string): Promise<PublicProfile | null> {
    return this.profileByUsername(username.toLowerCase());
  }

  async usernameExists(username: string, manager?: EntityManager): Promise<boolean> {
    return this.repo(manager).createQueryBuilder('u').where('lower(u.username) = lower(:username)', { username }).getExists();
  }

  /** Inserts with `email_confirmed_at = now()`; unique violations propagate to the caller. */
  async insertConfirmed(manager: EntityManager, input: NewConfirmedUser): Promise<UserEntity> {
    const result = await manager
      .createQueryBuilder()
      .insert()
      .into(UserEntity)
      .values({
        username: input.username,
        email: input.email,
        passwordHash: input.passwordHash,
        role: input.role,
        emailConfirmedAt: () => 'now()',
      })
      .returning('*')
      .execute();
    const rows = result.raw as Record<string, unknown>[];
    const row = rows[0];
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return manager.getRepository(UserEntity).create({
      id: row.id as string,
      username: row.username as string,
      email: row.email as string,
      passwordHash: row.password_hash as string,
      role: row.role as UserEntity['role'],
      avatarUrl: row.avatar_url as string | null,
      bio: row.bio as string | null,
      emailConfirmedAt: row.email_confirmed_at as Date | null,
      createdAt: row.created_at as Date,
      updatedAt: row.updated_at as Date,
    });
  }

  /** One `UPDATE … RETURNING`: the unique index, not a prior read, decides username conflicts. */
  async updateProfile(id: string, patch: ProfilePatch, manager?: EntityManager): Promise<PublicProfile | null> {
    const set: QueryDeepPartialEntity<UserEntity> = { updatedAt: () => 'now()' };
    if (patch.username !== undefined) set.username = patch.username;
    if (patch.avatarUrl !== undefined) set.avatarUrl = patch.avatarUrl;
    if (patch.bio !== undefined) set.bio = patch.bio;
    const result = await (manager ?? this.users.manager)
      .createQueryBuilder()
      .update(UserEntity)
      .set(set)
      .where('id = :id', { id })
      .returning(PROFILE_COLUMNS)
      .execute();
    const row = (result.raw as ProfileRow[])[0];
    return row ? toProfile(row) : null;
  }

  /** Deletes by normalized email; the user's sessions and chats go with it (ON DELETE CASCADE). */
  /** The user's id, its row locked FOR UPDATE until `manager`'s transaction ends; null when no user has the email. */
  async lockByEmail(manager: EntityManager, email: string): Promise<string | null> {
    const rows = await manager.query<{ id: string }[]>(`SELECT id FROM users WHERE email = $1 FOR UPDATE`, [email]);
    return rows[0]?.id ?? null;
  }

  async deleteById(manager: EntityManager, id: string): Promise<void> {
    await manager.query(`DELETE FROM users WHERE id = $1`, [id]);
  }

  async updateRoleById(manager: EntityManager, id: string, role: UserEntity['role']): Promise<void> {
    await manager.query(`UPDATE users SET role = $2, updated_at = now() WHERE id = $1`, [id, role]);
  }
}

function toProfile(row: ProfileRow): PublicProfile {
  return { id: row.id, username: row.username, avatarUrl: row.avatar_url, bio: row.bio };
}
