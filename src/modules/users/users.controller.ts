import { Body, Controller, Get, Param, Patch } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser, type AuthUser } from '../../common/auth';
// Shared problem+json documentation helper (lives in auth for now; cross-cutting).
import { ApiProblems } from '../../common/http/api-problems.decorator';
import { toProfilePatch, UpdateProfileDto } from './dto/update-profile.dto';
import { toUserProfileDto, UserProfileDto } from './dto/user-profile.dto';
import { UsernameParamDto } from './dto/username-param.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('me')
  @ApiOperation({ summary: 'The caller’s profile' })
  @ApiOkResponse({ type: UserProfileDto })
  @ApiProblems({ 401: 'unauthenticated, invalid_token', 404: 'user_not_found' })
  async me(@CurrentUser() user: AuthUser): Promise<UserProfileDto> {
    return toUserProfileDto(await this.users.getProfile(user.id));
  }

  @Patch('me')
  @ApiOperation({ summary: 'Update the caller’s username, avatar_url or bio' })
  @ApiOkResponse({ type: UserProfileDto })
  @ApiProblems({ 401: 'unauthenticated, invalid_token', 409: 'username_taken', 422: 'validation_failed, no_changes' })
  async update(@CurrentUser() user: AuthUser, @Body() body: UpdateProfileDto): Promise<UserProfileDto> {
    return toUserProfileDto(await this.users.updateProfile(user.id, toProfilePatch(body)));
  }

  @Get(':username')
  @ApiOperation({ summary: 'A user’s public profile by username (case-insensitive)' })
  @ApiOkResponse({ type: UserProfileDto })
  @ApiProblems({ 401: 'unauthenticated, invalid_token', 404: 'user_not_found', 422: 'validation_failed' })
  async byUsername(@Param() params: UsernameParamDto): Promise<UserProfileDto> {
    return toUserProfileDto(await this.users.getProfileByUsername(params.username));
  }
}
