import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../../common/auth';
import { AuditLog } from '../../common/logging/audit-log';
import { UsersService } from '../users/users.service';
import { authError } from './auth.errors';
import type { UserAccountDto } from './dto/auth-requests.dto';
import type { RequestMeta } from './request-meta';
import { normalizeEmail } from '../users/user-fields';

/** `GET /auth/users?email=` for admins: exact, case-insensitive (normalized, uniquely indexed column), audited. */
@Injectable()
export class AdminLookupService {
  constructor(
    private readonly users: UsersService,
    private readonly audit: AuditLog,
  ) {}

  async findByEmail(caller: AuthUser, rawEmail: string, meta: RequestMeta): Promise<UserAccountDto> {
    const email = normalizeEmail(rawEmail);
    const account = await this.users.findAccountByEmail(email);
    this.audit.write(
      {
        event: 'audit.user_lookup',
        actor_id: caller.id,
        actor_session_id: caller.sessionId,
        target_email: email,
        target_id: account?.id ?? null,
        request_id: meta.requestId,
      },
      'admin looked up a user by email',
    );
    if (!account) throw authError('user_not_found');
    return { ...account };
  }
}
