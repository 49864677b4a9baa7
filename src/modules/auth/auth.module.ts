import { Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { APP_CONFIG, type AppConfig } from '../../common/config';
import { ThrottlingModule } from '../../common/throttling/throttling.module';
import { UsersModule } from '../users/users.module';
import { UsersService } from '../users/users.service';
import { AdminLookupService } from './admin-lookup.service';
import { AuthLimits } from './auth-limits.service';
import { AuthSecrets } from './auth-secrets';
import { AuthController } from './auth.controller';
import { AuthHousekeeping } from './housekeeping.service';
import { JwtAuthGuard } from './guards/jwt-auth.guard';
import { JwtStrategy } from './guards/jwt.strategy';
import { RequestGuard } from './guards/request.guard';
import { MailOutboxRepository } from './mail/mail-outbox.repository';
import { MailTransport } from './mail/mail-transport';
import { MailWorker } from './mail/mail-worker.service';
import { PasswordHasher } from './password-hasher';
import { SessionRevocationStore } from './session-revocation.store';
import { AccountChangesService } from './sessions/account-changes.service';
import { LoginService } from './sessions/login.service';
import { SessionsRepository } from './sessions/sessions.repository';
import { SessionsService } from './sessions/sessions.service';
import { PendingSignupsRepository } from './signup/pending-signups.repository';
import { SignupService } from './signup/signup.service';
import { VerificationService } from './signup/verification.service';
import { jwtSecretKey, TokenService } from './token.service';

@Module({
  imports: [
    UsersModule,
    ThrottlingModule,
    PassportModule,
    JwtModule.registerAsync({
      inject: [APP_CONFIG],
      // A KeyObject, not the string: jsonwebtoken otherwise tries (and fails) to parse the string
      // as a PEM key on every sign before using it as an HMAC secret (measured in bench/results.md).
      useFactory: (config: AppConfig) => ({
        privateKey: jwtSecretKey(config),
        publicKey: jwtSecretKey(config),
        signOptions: { algorithm: 'HS256' },
      }),
    }),
  ],
  controllers: [AuthController],
  providers: [
    TokenService,
    SessionRevocationStore,
    JwtStrategy,
    JwtAuthGuard,
    { provide: APP_GUARD, useClass: RequestGuard },
    AuthSecrets,
    AuthLimits,
    PasswordHasher,
    PendingSignupsRepository,
    SessionsRepository,
    AccountChangesService,
    MailOutboxRepository,
    MailTransport,
    MailWorker,
    SignupService,
    VerificationService,
    SessionsService,
    LoginService,
    AdminLookupService,
    AuthHousekeeping,
  ],
  exports: [TokenService, SessionsService],
})
export class AuthModule implements OnModuleInit {
  constructor(
    private readonly users: UsersService,
    private readonly pending: PendingSignupsRepository,
  ) {}

  /** Renames (users module) must respect usernames held by unexpired pending signups (ours). */
  onModuleInit(): void {
    this.users.useUsernameReservations({
      claimOrReserved: async (manager, username) => {
        await this.pending.lockUsername(manager, username);
        return this.pending.isUsernameHeld(manager, username, null);
      },
    });
  }
}
