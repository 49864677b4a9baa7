import { findInputDefect, MAX_INPUT_DEPTH } from './validation';

describe('findInputDefect', () => {
  const nested = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };

  it('accepts ordinary bodies', () => {
    expect(findInputDefect({ username: 'alice', bio: 'héllo 😀', tags: [{ a: 1 }] }, 'body')).toBeUndefined();
    expect(findInputDefect(nested(MAX_INPUT_DEPTH - 1), 'body')).toBeUndefined();
  });

  it('refuses nesting deeper than the limit without overflowing its own stack', () => {
    expect(findInputDefect({ bio: nested(MAX_INPUT_DEPTH) }, 'body')?.field).toBe('body');
    expect(findInputDefect(nested(100_000), 'body')).toBeDefined();
  });

  it('refuses lone surrogates and NUL characters, naming the field', () => {
    expect(findInputDefect({ email: 'a\uD800@example.test' }, 'body')?.field).toBe('email');
    expect(findInputDefect({ message: 'a\u0000b' }, 'body')?.field).toBe('message');
    expect(findInputDefect({ profile: { bio: '\uDC00' } }, 'body')?.field).toBe('profile.bio');
    expect(findInputDefect({ ok: '\uD83D\uDE00' }, 'body')).toBeUndefined();
  });
});
