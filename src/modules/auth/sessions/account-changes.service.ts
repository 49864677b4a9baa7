import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Role } from '../../../common/auth';
import { UsersService } from '../../users/users.service';
import { SessionRevocationStore } from '../session-revocation.store';
import { TokenService } from '../token.service';
import { SessionsRepository } from './sessions.repository';

/**
 * The admin CLI's changes to a user (role, deletion), each with every session of the user closed,
 * access tokens included, in one transaction that holds the user's row from its first statement.
 * A login opens its session reading the user FOR SHARE (SessionsRepository), so a session is
 * either committed before (closed here with the others) or opened after the commit, with the new
 * role or not at all. The revocations reach Redis before the commit: when Redis (or anything else)
 * fails, nothing has changed, and the command can simply run again. (A commit that fails after
 * Redis took them leaves those sessions refused while PostgreSQL still has them open: the user
 * signs in again; never the other way round.)
 */
@Injectable()
export class AccountChangesService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly sessions: SessionsRepository,
    private readonly revocations: SessionRevocationStore,
    private readonly tokens: TokenService,
  ) {}

  /** How many sessions were closed; null when no user has the email. */
  setRole(email: string, role: Role): Promise<number | null> {
    return this.closingSessions(email, `role_${role}`, (m, id) => this.users.setRole(m, id, role));
  }

  /** How many sessions were closed; null when no user has the email. The user's chats go with the row. */
  deleteUser(email: string): Promise<number | null> {
    return this.closingSessions(email, 'user_deleted', (m, id) => this.users.deleteUser(m, id));
  }

  private closingSessions(
    email: string,
    reason: string,
    change: (m: EntityManager, userId: string) => Promise<void>,
  ): Promise<number | null> {
    return this.dataSource.transaction(async (m) => {
      const userId = await this.users.lockForChange(m, email);
      if (userId === null) return null;
      // Before the change: a deletion takes the session rows with it.
      const closed = await this.sessions.revokeAllOfUser(m, userId, reason);
      await change(m, userId);
      for (const id of closed) await this.revocations.revoke(id, this.tokens.accessTtlSeconds);
      return closed.length;
    });
  }
}
