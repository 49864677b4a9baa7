import { ApiProperty } from '@nestjs/swagger';

export class TokenUserDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'user@example.com' })
  email!: string;
}

/** The routes document's token response, exactly. */
export class TokenResponseDto {
  @ApiProperty({ description: 'JWT (HS256), claims sub, sid, role, iat, exp, iss, aud' })
  access_token!: string;

  @ApiProperty({ description: 'Opaque, 256 random bits, rotated on every refresh' })
  refresh_token!: string;

  @ApiProperty({ type: 'integer', example: 3600 })
  expires_in!: number;

  @ApiProperty({ enum: ['bearer'] })
  token_type!: 'bearer';

  @ApiProperty({ type: TokenUserDto })
  user!: TokenUserDto;
}
