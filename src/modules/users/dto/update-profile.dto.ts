import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsDefined, IsOptional, IsString, Matches, ValidateBy, ValidateIf } from 'class-validator';
import type { Localized } from '../../../common/i18n/locale';
import { msg } from '../../../common/http/validation';
import {
  AVATAR_URL_MAX_LENGTH,
  BIO_MAX_CODE_POINTS,
  BIO_MAX_GRAPHEMES,
  USERNAME_PATTERN,
  fitsLength,
  hasControlCharacters,
  normalizeLineBreaks,
  isHttpUrl,
} from '../user-fields';
import type { ProfilePatch } from '../user-records';

export const USERNAME_MESSAGE = msg('用户名须为 3–30 位字母、数字或下划线', 'must be 3–30 letters, digits or underscores');

/**
 * A custom rule with its localized message. The English sentence doubles as class-validator's
 * default message: a rule whose message is empty loses its context (and so its translation).
 */
const CustomRule = (name: string, validate: (value: unknown) => boolean, message: Localized): PropertyDecorator =>
  ValidateBy({ name, validator: { validate: (value) => validate(value), defaultMessage: () => message.en } }, { context: message });

const AVATAR_URL_MESSAGE = msg(
  `必须是 http(s) 链接,最多 ${AVATAR_URL_MAX_LENGTH} 个字符`,
  `must be an http(s) URL of at most ${AVATAR_URL_MAX_LENGTH} characters`,
);
const BIO_CONTROL_MESSAGE = msg('不能包含换行以外的控制字符', 'must not contain control characters other than line breaks');
const BIO_LENGTH_MESSAGE = msg(`最多 ${BIO_MAX_GRAPHEMES} 个字符`, `must be at most ${BIO_MAX_GRAPHEMES} characters`);

/**
 * `PATCH /users/me`. Absent fields stay as they are; `null` clears `avatar_url` or `bio`;
 * `username` cannot be null. Unknown fields (`email`, `role`, `id`, …) are rejected by the global pipe.
 */
export class UpdateProfileDto {
  @ApiPropertyOptional({
    pattern: USERNAME_PATTERN.source,
    minLength: 3,
    maxLength: 30,
    example: 'alice_01',
    description: 'Unique, compared case-insensitively.',
  })
  // Validate whenever the key is present, so an explicit null fails instead of being skipped.
  @ValidateIf((_dto, value) => value !== undefined)
  @IsDefined({ context: msg('不能为 null', 'must not be null') })
  @IsString()
  @Matches(USERNAME_PATTERN, { context: USERNAME_MESSAGE })
  username?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    format: 'uri',
    // The same prefix as the check, written without the flag a schema pattern cannot carry.
    pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/\\\\]',
    maxLength: AVATAR_URL_MAX_LENGTH,
    description: 'An http(s) URL; null clears it.',
  })
  @IsOptional()
  @IsString()
  @CustomRule('isHttpUrl', isHttpUrl, AVATAR_URL_MESSAGE)
  avatar_url?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    // JSON Schema counts code points: the bound every accepted bio meets (the description gives
    // the tighter one, in characters as a person counts them, which no schema keyword expresses).
    maxLength: BIO_MAX_CODE_POINTS,
    description:
      `Trimmed; at most ${BIO_MAX_GRAPHEMES} characters as a person counts them (an emoji or a Chinese character is one) ` +
      `and at most ${BIO_MAX_CODE_POINTS} Unicode code points; line breaks allowed (stored as \\n), no other control characters; null (or blank) clears it.`,
  })
  // A bio may have several lines (a textarea): each line break is stored as \n, whatever the client sent.
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? normalizeLineBreaks(value.trim()) : value))
  @IsOptional()
  @IsString()
  @CustomRule(
    'noControlCharacters',
    (value) => typeof value === 'string' && !hasControlCharacters(value.replaceAll('\n', '')),
    BIO_CONTROL_MESSAGE,
  )
  @CustomRule(
    'maxLength',
    (value) => typeof value === 'string' && fitsLength(value, BIO_MAX_GRAPHEMES, BIO_MAX_CODE_POINTS),
    BIO_LENGTH_MESSAGE,
  )
  bio?: string | null;
}

/** The service's view of a validated body; a blank bio (after trimming) is stored as no bio. */
export function toProfilePatch(dto: UpdateProfileDto | undefined): ProfilePatch {
  return {
    username: dto?.username,
    avatarUrl: dto?.avatar_url,
    bio: dto?.bio === '' ? null : dto?.bio,
  };
}
