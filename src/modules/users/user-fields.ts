import { GRAPHEMES, LONE_SURROGATE } from '../../common/text/unicode';

/**
 * Field rules for profiles, shared by the DTOs (validation) and the service (normalization).
 * Plain functions so they can be unit-tested without Nest.
 */

export const USERNAME_PATTERN = /^[A-Za-z0-9_]{3,30}$/;
export const AVATAR_URL_MAX_LENGTH = 2048;
export const BIO_MAX_GRAPHEMES = 200;
/**
 * A bio's length in code points (PostgreSQL's characters): 200 of the longest emoji, which are 10
 * code points each (👩🏽‍❤️‍💋‍👨🏿), so any 200 characters a person can see fit. Without it, combining
 * marks piled onto one letter count as one grapheme however many there are, and a 64 KiB body
 * could store a 40 KB "one-character" bio. Also a CHECK on users.bio (migration BioLength).
 */
export const BIO_MAX_CODE_POINTS = 2000;

const CONTROL_CHARACTER = /\p{Cc}/u;
const WHITESPACE = /\s/u;
// WHATWG parsing forgives `http:/x`, `http:///x` and backslashes; the stored string must be canonical-looking.
const HTTP_PREFIX = /^https?:\/\/[^/\\]/i;

export function isValidUsername(value: unknown): value is string {
  return typeof value === 'string' && USERNAME_PATTERN.test(value);
}

/** Emails are stored and compared trimmed and lowercased (the `uq_users_email` index is on the raw column). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Characters as a person counts them: one per extended grapheme cluster, so a Chinese character,
 * an emoji, or an emoji with skin tone / ZWJ sequence each count as one.
 */
export function countGraphemes(text: string): number {
  let count = 0;
  for (const _ of GRAPHEMES.segment(text)) count++;
  return count;
}

/**
 * At most `maxGraphemes` characters as a person counts them and at most `maxCodePoints` code
 * points: a rule on graphemes alone does not bound the text (see {@link BIO_MAX_CODE_POINTS}).
 */
export function fitsLength(text: string, maxGraphemes: number, maxCodePoints: number): boolean {
  // Each code point is one or two UTF-16 units: only a long string needs counting.
  if (text.length > maxCodePoints) {
    let codePoints = 0;
    for (const _ of text) if (++codePoints > maxCodePoints) return false;
  }
  return countGraphemes(text) <= maxGraphemes;
}

/** Every line break (CRLF, CR, LF, U+2028, U+2029) as one LF; NEL (U+0085), a C1 control, is left to be refused. */
export function normalizeLineBreaks(text: string): string {
  return text.replace(/\r\n|[\r\u2028\u2029]/g, '\n');
}

/** C0/C1 control characters (newline and tab included) or lone surrogates. */
export function hasControlCharacters(text: string): boolean {
  return CONTROL_CHARACTER.test(text) || LONE_SURROGATE.test(text);
}

/**
 * An absolute http(s) URL with a host, at most 2048 characters (code points, as PostgreSQL's
 * varchar(2048) counts them), no whitespace or control characters anywhere (WHATWG URL parsing
 * would silently strip some, so the stored string could differ from what was validated).
 */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  if ([...value].length > AVATAR_URL_MAX_LENGTH) return false;
  if (WHITESPACE.test(value) || hasControlCharacters(value) || !HTTP_PREFIX.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
}
