import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentUser, Public, Roles, type AuthUser } from '../../common/auth';
import { RateLimit } from '../../common/throttling/rate-limit.decorator';
import { AdminLookupService } from './admin-lookup.service';
import { ApiProblems } from '../../common/http/api-problems.decorator';
import { EmailDto, LoginDto, RefreshTokenDto, SignupAcceptedDto, SignupDto, UserAccountDto, VerifyDto } from './dto/auth-requests.dto';
import { TokenResponseDto } from './dto/token-response.dto';
import { ReqMeta, type RequestMeta } from './request-meta';
import { LoginService } from './sessions/login.service';
import { SessionsService } from './sessions/sessions.service';
import { SignupService } from './signup/signup.service';
import { VerificationService } from './signup/verification.service';

/** CONTRACT.md's per-IP limits for the auth routes (the rest keep the default 300 per minute). */
/** CONTRACT.md's rows, per IP: signup and resend share one budget; verify, login and refresh have one each. */
const MAIL_LIMIT = { bucket: 'auth-mail', limit: 30, windowSeconds: 300 };
const VERIFY_LIMIT = { bucket: 'auth-verify', limit: 30, windowSeconds: 300 };
const LOGIN_LIMIT = { bucket: 'auth-login', limit: 30, windowSeconds: 300 };
const REFRESH_LIMIT = { bucket: 'auth-refresh', limit: 150, windowSeconds: 300 };

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly signup: SignupService,
    private readonly verification: VerificationService,
    private readonly login: LoginService,
    private readonly sessions: SessionsService,
    private readonly lookup: AdminLookupService,
  ) {}

  @Post('verifications')
  @Public()
  @HttpCode(202)
  @RateLimit(MAIL_LIMIT)
  @ApiOperation({ summary: 'Sign up: records a pending signup and mails a 6-digit code (same answer for every address state)' })
  @ApiResponse({ status: 202, type: SignupAcceptedDto })
  @ApiProblems({ 409: 'username_taken', 422: 'validation_failed', 429: 'rate_limited', 503: 'server_busy' })
  createVerification(@Body() body: SignupDto, @ReqMeta() meta: RequestMeta): Promise<SignupAcceptedDto> {
    return this.signup.signUp(
      { username: body.username, email: body.email, password: body.password, redirectTo: body.redirect_to ?? undefined },
      meta,
    );
  }

  @Post('verifications/resend')
  @Public()
  @HttpCode(204)
  @RateLimit(MAIL_LIMIT)
  @ApiOperation({ summary: 'Mails a fresh code for the newest pending signup of the address; the previous code dies' })
  @ApiResponse({ status: 204 })
  @ApiProblems({ 422: 'validation_failed', 429: 'rate_limited' })
  resend(@Body() body: EmailDto, @ReqMeta() meta: RequestMeta): Promise<void> {
    return this.signup.resend(body.email, meta);
  }

  @Post('verifications/verify')
  @Public()
  @HttpCode(200)
  @RateLimit(VERIFY_LIMIT)
  @ApiOperation({ summary: 'Confirms the signup the code belongs to and opens a session' })
  @ApiResponse({ status: 200, type: TokenResponseDto })
  @ApiProblems({ 401: 'invalid_otp', 409: 'username_taken', 422: 'validation_failed', 429: 'rate_limited' })
  verify(@Body() body: VerifyDto, @ReqMeta() meta: RequestMeta): Promise<TokenResponseDto> {
    return this.verification.verify(body.email, body.token, meta);
  }

  @Post('sessions')
  @Public()
  @HttpCode(200)
  @RateLimit(LOGIN_LIMIT)
  @ApiOperation({ summary: 'Log in with email and password' })
  @ApiResponse({ status: 200, type: TokenResponseDto })
  @ApiProblems({ 401: 'invalid_credentials, email_not_confirmed', 422: 'validation_failed', 429: 'rate_limited', 503: 'server_busy' })
  createSession(@Body() body: LoginDto, @ReqMeta() meta: RequestMeta): Promise<TokenResponseDto> {
    return this.login.login(body.email, body.password, meta);
  }

  @Post('sessions/refresh')
  @Public()
  @HttpCode(200)
  @RateLimit(REFRESH_LIMIT)
  @ApiOperation({ summary: 'Rotates the refresh token (a rotated one replays its replacement for 10 s, later reuse revokes the session)' })
  @ApiResponse({ status: 200, type: TokenResponseDto })
  @ApiProblems({ 401: 'invalid_refresh_token', 422: 'validation_failed', 429: 'rate_limited' })
  refresh(@Body() body: RefreshTokenDto, @ReqMeta() meta: RequestMeta): Promise<TokenResponseDto> {
    return this.sessions.refresh(body.refresh_token, meta);
  }

  @Delete('sessions')
  @Public()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Log out: revokes the session; its access tokens stop working at once (unknown tokens also 204)',
    description:
      'The refresh token travels in a JSON body, as the routes document has it. OpenAPI 3.0 lets tools ignore the body ' +
      'of a DELETE: check that a generated client sends it.',
  })
  @ApiResponse({ status: 204 })
  @ApiProblems({ 422: 'validation_failed' })
  deleteSession(@Body() body: RefreshTokenDto, @ReqMeta() meta: RequestMeta): Promise<void> {
    return this.sessions.logout(body.refresh_token, meta);
  }

  @Get('users')
  @Roles('admin')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Admin: find a user by email (exact, case-insensitive); audited' })
  @ApiResponse({ status: 200, type: UserAccountDto })
  @ApiProblems({ 401: 'unauthenticated, invalid_token', 403: 'not_admin', 404: 'user_not_found', 422: 'validation_failed' })
  findUser(@Query() query: EmailDto, @CurrentUser() user: AuthUser, @ReqMeta() meta: RequestMeta): Promise<UserAccountDto> {
    return this.lookup.findByEmail(user, query.email, meta);
  }
}
