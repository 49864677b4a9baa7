import { LONE_SURROGATE, toStorableText } from './unicode';

describe('unicode', () => {
  it('finds lone surrogates but not well-formed pairs', () => {
    expect(LONE_SURROGATE.test('a\ud83d')).toBe(true);
    expect(LONE_SURROGATE.test('\ude00b')).toBe(true);
    expect(LONE_SURROGATE.test('ok 😀 好')).toBe(false);
  });

  it('replaces NUL and lone surrogates with U+FFFD, keeping pairs', () => {
    expect(toStorableText('a\u0000b\ud83d😀\ude00')).toBe('a\uFFFDb\uFFFD😀\uFFFD');
  });
});
