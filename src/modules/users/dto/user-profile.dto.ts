import { ApiProperty } from '@nestjs/swagger';
import type { PublicProfile } from '../user-records';

/** A public profile. Every key is always present (null when unset); never the email, role or hash. */
export class UserProfileDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'alice_01' })
  username!: string;

  @ApiProperty({ type: String, nullable: true, format: 'uri' })
  avatar_url!: string | null;

  @ApiProperty({ type: String, nullable: true })
  bio!: string | null;
}

/** Picks the public fields one by one, so adding a column can never leak it. */
export function toUserProfileDto(profile: PublicProfile): UserProfileDto {
  return { id: profile.id, username: profile.username, avatar_url: profile.avatarUrl, bio: profile.bio };
}
