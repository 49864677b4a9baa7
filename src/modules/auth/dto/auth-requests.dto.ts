import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsEmail, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import { msg } from '../../../common/http/validation';

const EMAIL_MAX = 254;
const EmailField = (): PropertyDecorator =>
  applyDecorators(
    IsDefined({ context: msg('不能为空', 'is required') }),
    IsString({ context: msg('必须是字符串', 'must be a string') }),
    MaxLength(EMAIL_MAX, { context: msg('不能超过 254 个字符', 'must be at most 254 characters') }),
    IsEmail({}, { context: msg('必须是有效的邮箱地址', 'must be a valid email address') }),
  );
const PasswordField = (): PropertyDecorator =>
  applyDecorators(
    IsDefined({ context: msg('不能为空', 'is required') }),
    IsString({ context: msg('必须是字符串', 'must be a string') }),
    Length(6, 128, { context: msg('长度必须为 6 到 128 个字符', 'must be 6 to 128 characters long') }),
  );

export class SignupDto {
  @ApiProperty({ pattern: '^[A-Za-z0-9_]{3,30}$', example: 'alice_01' })
  @IsDefined({ context: msg('不能为空', 'is required') })
  @IsString({ context: msg('必须是字符串', 'must be a string') })
  @Matches(/^[A-Za-z0-9_]{3,30}$/, {
    context: msg('必须是 3 到 30 个字母、数字或下划线', 'must be 3 to 30 letters, digits or underscores'),
  })
  username!: string;

  @ApiProperty({ format: 'email', maxLength: EMAIL_MAX })
  @EmailField()
  email!: string;

  @ApiProperty({ minLength: 6, maxLength: 128 })
  @PasswordField()
  password!: string;

  @ApiPropertyOptional({
    description: 'Absolute URL on an origin in REDIRECT_ALLOWLIST; the mail links to it with ?email=',
    format: 'uri',
    maxLength: 2048,
    nullable: true,
  })
  @IsOptional() // absent or null: no link (clients that write unset optional fields as null)
  @IsString({ context: msg('必须是字符串', 'must be a string') })
  @MaxLength(2048, { context: msg('不能超过 2048 个字符', 'must be at most 2048 characters') })
  redirect_to?: string | null;
}

export class EmailDto {
  @ApiProperty({ format: 'email', maxLength: EMAIL_MAX })
  @EmailField()
  email!: string;
}

export class VerifyDto {
  @ApiProperty({ format: 'email', maxLength: EMAIL_MAX })
  @EmailField()
  email!: string;

  @ApiProperty({ pattern: '^[0-9]{6}$', example: '042917' })
  @IsDefined({ context: msg('不能为空', 'is required') })
  @IsString({ context: msg('必须是字符串', 'must be a string') })
  @Matches(/^[0-9]{6}$/, { context: msg('必须是 6 位数字', 'must be 6 digits') })
  token!: string;
}

export class LoginDto {
  @ApiProperty({ format: 'email', maxLength: EMAIL_MAX })
  @EmailField()
  email!: string;

  @ApiProperty({ minLength: 6, maxLength: 128 })
  @PasswordField()
  password!: string;
}

export class RefreshTokenDto {
  @ApiProperty({ description: 'The refresh token from a token response' })
  @IsDefined({ context: msg('不能为空', 'is required') })
  @IsString({ context: msg('必须是字符串', 'must be a string') })
  // Any string that is not one of ours is a 401 `invalid_refresh_token`, whatever its length (an
  // access token sent here by mistake included); the bound only keeps absurd inputs out.
  @Length(1, 4096, { context: msg('长度无效', 'has an invalid length') })
  refresh_token!: string;
}

export class SignupAcceptedDto {
  @ApiProperty({ format: 'email' })
  email!: string;
}

export class UserAccountDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ format: 'email' })
  email!: string;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  email_confirmed_at!: string | null;
}
