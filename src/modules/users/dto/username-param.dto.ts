import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { USERNAME_PATTERN } from '../user-fields';
import { USERNAME_MESSAGE } from './update-profile.dto';

/** `GET /users/{username}`: validated like a body so a bad name is the same 422 problem. */
export class UsernameParamDto {
  @ApiProperty({ pattern: USERNAME_PATTERN.source, minLength: 3, maxLength: 30, description: 'Matched case-insensitively.' })
  @Matches(USERNAME_PATTERN, { context: USERNAME_MESSAGE })
  username!: string;
}
