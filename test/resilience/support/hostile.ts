import fc from 'fast-check';

/** Strings that have broken parsers, validators and databases before. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  'admin\u0000',
  '\uFEFF',
  '\u202Eevil',
  '\uD800', // lone surrogate: not encodable as UTF-8
  'İı',
  'ＡＤＭＩＮ',
  '😀'.repeat(50),
  '𝕏'.repeat(40),
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '%00',
  '%',
  '${jndi:ldap://x}',
  '{{7*7}}',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '0x10',
  '123',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'a'.repeat(31),
  'a'.repeat(129),
  'a'.repeat(257),
  'x'.repeat(9000),
  'user@example.test\r\nBcc: victim@example.test',
  'http://127.0.0.1:6379/',
  'javascript:alert(1)',
  '00000000-0000-0000-0000-000000000000',
];

export const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 100, maxLength: 400 }) },
  { weight: 1, arbitrary: fc.integer().map(String) },
);

export const hostileKey = (fields: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      'role',
      'id',
      'user_id',
      'email_confirmed_at',
      ...fields,
    ),
    fc.string({ maxLength: 12 }),
  );

/** Any JSON value with hostile leaves: wrong types, nesting, arrays where objects belong. */
export const hostileValue = (fields: readonly string[]): fc.Arbitrary<unknown> =>
  fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      hostileString,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(hostileKey(fields), tie('value'), { maxKeys: 4 }),
    ),
  })).value;

/** A body aimed at a route: its own field names holding the wrong things, plus stray keys. */
export const hostileBody = (fields: readonly string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    hostileValue(fields),
    fc
      .tuple(
        fc.record(Object.fromEntries(fields.map((f) => [f, hostileValue(fields)])), { requiredKeys: [] }),
        fc.dictionary(hostileKey(fields), hostileValue(fields), { maxKeys: 2 }),
      )
      .map(([known, extra]) => ({ ...extra, ...known })),
    fc.record(Object.fromEntries(fields.map((f) => [f, hostileString])), { requiredKeys: [] }),
  );

/** Bodies that are not what they claim to be: byte-level and syntax-level abuse. */
export const hostileRawBody = (fields: readonly string[]): fc.Arbitrary<Buffer> => {
  const field = fc.constantFrom(...(fields.length > 0 ? fields : ['x']));
  return fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    field.map((f) => Buffer.concat([Buffer.from(`{"${f}":"`), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}')])),
    fc
      .tuple(field, hostileString, hostileString)
      .map(([f, a, b]) => Buffer.from(`{"${f}":${JSON.stringify(a)},"${f}":${JSON.stringify(b)}}`)),
    fc
      .tuple(field, fc.integer({ min: 50, max: 20_000 }), fc.boolean())
      .map(([f, depth, arrays]) =>
        Buffer.from(arrays ? `{"${f}":${'['.repeat(depth)}${']'.repeat(depth)}}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
      ),
    field.map((f) => Buffer.from(`{"__proto__":{"role":"admin","${f}":"x"},"constructor":{"prototype":{"isAdmin":true}}}`)),
    field.map((f) => Buffer.from(`{"${f}":123e4567,"${f}2":-0.0e-0}`)),
    fc
      .constantFrom('', 'null', '"string"', '123', '[]', '[{}]', '{', '{"a":1', '{"a":}', "{'a':1}", '{"a":1}garbage', '\uFEFF{}', 'NaN')
      .map((s) => Buffer.from(s)),
    field.map((f) => Buffer.from(`{"${f}":"${'x'.repeat(70 * 1024)}"}`)), // over the 64 KiB limit
  );
};

export const hostileContentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/problem+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/json, text/plain',
  '*/*',
);

/** A raw query string: repeated keys, bracket syntax, broken percent-encoding. */
export const hostileQuery = (params: readonly string[]): fc.Arbitrary<string> =>
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            ...params,
            '__proto__',
            '__proto__[role]',
            'constructor[prototype][x]',
            'a[]',
            'a[b][c]',
            'limit',
            'cursor',
            'email',
          ),
          fc.string({ maxLength: 8 }),
        ),
        fc.oneof(
          hostileString.map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, ''))),
          fc.constantFrom('%', '%zz', '%E0%A4', '%00', '+', '&&', '=', '-1', '1e9', '99999999999999999999'),
        ),
      ),
      { minLength: 1, maxLength: 5 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${v}`).join('&'));

/**
 * A path segment for a `{param}`: URL-encoded so it stays one segment, at most 100 characters
 * (Fastify's maxParamLength; longer ones are covered by hostile-input's protocol-level test).
 */
export const hostileSegment = fc
  .oneof(
    hostileString.filter((s) => s.length > 0).map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, ''))),
    // Malformed percent-encoding is covered by hostile-input's protocol-level test, not here.
    fc.constantFrom('%00', '..%2F..%2Fetc', '%2e%2e', 'a%20b', '%C3%A9', 'me', 'ME', '-1', '0'),
  )
  .filter((s) => s.length > 0 && s.length <= 100);

/** Header values a conforming client can still send (visible ASCII and tabs). */
const headerSafe = fc.string({ unit: 'binary-ascii', maxLength: 300 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '').trim());

export const hostileHeaders = fc.record(
  {
    'accept-language': fc.oneof(
      headerSafe,
      fc.constantFrom('en', 'zh-CN', '*', 'en;q=abc', 'xx-YY;q=2, en;q=-1', ',,,;;;', 'en'.repeat(500)),
    ),
    accept: fc.oneof(headerSafe, fc.constantFrom('text/event-stream', 'application/xml', '*/*', 'application/json;q=0')),
    'x-request-id': fc.oneof(headerSafe, fc.constantFrom('a'.repeat(200), '../../x', '${jndi}', 'id with spaces')),
    'x-forwarded-for': fc.oneof(headerSafe, fc.constantFrom('::1', 'unknown', '1.2.3.4, 5.6.7.8', '999.999.999.999', '', ', ,')),
    authorization: fc.oneof(headerSafe, fc.constantFrom('Bearer', 'Bearer null', 'Bearer a.b.c', 'Basic Og==')),
  },
  { requiredKeys: [] },
);
