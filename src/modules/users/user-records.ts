import type { Role } from '../../common/auth';

/** What the auth module needs to know about a user: never sent to clients as-is. */
export interface UserAuthRecord {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly role: Role;
  readonly emailConfirmedAt: Date | null;
  readonly createdAt: Date;
}

export interface NewConfirmedUser {
  readonly username: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly role: Role;
}

/** The admin lookup's answer (`GET /auth/users?email=`), already in the routes document's shape. */
export interface UserAccount {
  readonly id: string;
  readonly email: string;
  readonly created_at: string;
  readonly email_confirmed_at: string | null;
}

/** A profile change: `undefined` leaves a field alone, `null` clears `avatar_url` / `bio`. */
export interface ProfilePatch {
  readonly username?: string;
  readonly avatarUrl?: string | null;
  readonly bio?: string | null;
}

export interface PublicProfile {
  readonly id: string;
  readonly username: string;
  readonly avatarUrl: string | null;
  readonly bio: string | null;
}
