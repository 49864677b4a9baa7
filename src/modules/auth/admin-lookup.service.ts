import { Injectable, Logger } from '@nestjs/common';
import type { AuthUser } from '../../common/auth';
import { UsersService } from '../users/users.service';
import { authError } from './auth.errors';
import type { UserAccountDto } from './dto/auth-requests.dto';
import type { RequestMeta } from './request-meta';
import { normalizeEmail } from '../users/user-fields';

/** `GET /auth/users?email=` for admins: exact, case-insensitive (normalized, uniquely indexed column), audited. */
@Injectable()
export class AdminLookupService {
  private readonly audit = new Logger('Audit');

  constructor(private readonly users: UsersService) {}

  async findByEmail(caller: AuthUser, rawEmail: string, meta: RequestMeta): Promise<UserAccountDto> {
    const email = normalizeEmail(rawEmail);
    const account = await this.users.findAccountByEmail(email);
    this.audit.log(
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
