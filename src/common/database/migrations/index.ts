import type { MixedList } from 'typeorm';
import { CreateUsers1795486493413 } from './1795486493413-CreateUsers';
import { CreateAuthTables1795486600000 } from './1795486600000-CreateAuthTables';
import { CreateAgentChat1795486700000 } from './1795486700000-CreateAgentChat';
import { SessionUserSnapshot1795486800000 } from './1795486800000-SessionUserSnapshot';
import { SessionsRevokedIndex1795486900000 } from './1795486900000-SessionsRevokedIndex';
import { AgentChatOpenRunFunction1795487000000 } from './1795487000000-AgentChatOpenRunFunction';
import { BioLength1795487100000 } from './1795487100000-BioLength';
import { MailOutboxSealed1795487200000 } from './1795487200000-MailOutboxSealed';
import { RunTimeoutIsFailed1795487300000 } from './1795487300000-RunTimeoutIsFailed';
import { HousekeepingIndexes1795487400000 } from './1795487400000-HousekeepingIndexes';
import { ChatSessionsUpdatedAtMillis1795487500000 } from './1795487500000-ChatSessionsUpdatedAtMillis';

/**
 * Every migration, in order. Listed explicitly (not globbed) so the same list works from
 * TypeScript sources (tests, CLI) and from compiled `dist/` alike. Never edit a migration that
 * has landed: add a new one.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const migrations: MixedList<Function> = [
  CreateUsers1795486493413,
  CreateAuthTables1795486600000,
  CreateAgentChat1795486700000,
  SessionUserSnapshot1795486800000,
  SessionsRevokedIndex1795486900000,
  AgentChatOpenRunFunction1795487000000,
  BioLength1795487100000,
  MailOutboxSealed1795487200000,
  RunTimeoutIsFailed1795487300000,
  HousekeepingIndexes1795487400000,
  ChatSessionsUpdatedAtMillis1795487500000,
];
