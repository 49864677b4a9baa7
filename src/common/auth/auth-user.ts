export type Role = 'user' | 'admin';

/** The caller, as established by the global JWT guard from a verified, unrevoked access token. */
export interface AuthUser {
  /** User id (`sub`). */
  readonly id: string;
  /** Session id (`sid`). */
  readonly sessionId: string;
  readonly role: Role;
}
