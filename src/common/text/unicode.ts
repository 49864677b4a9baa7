/**
 * Unicode that our stores and libraries cannot take, in one place: input validation refuses it,
 * persistence of text we did not get from a request (a model's output) replaces it.
 */

/** A lone UTF-16 surrogate. With the u flag a well-formed pair is one code point, so only lone halves match. */
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** NUL (PostgreSQL's text and jsonb store none) or a lone surrogate (jsonb rejects its `\udXXX` escape). */
const UNSTORABLE = /\0|[\uD800-\uDFFF]/gu;

/** `text` with what PostgreSQL cannot store replaced by U+FFFD. */
export function toStorableText(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/** Splits text into characters as a person counts them (extended grapheme clusters). */
export const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
