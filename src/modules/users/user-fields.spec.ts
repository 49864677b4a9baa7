import fc from 'fast-check';
import { countGraphemes, fitsLength, hasControlCharacters, isHttpUrl, isValidUsername, normalizeEmail } from './user-fields';

describe('user fields', () => {
  describe('isValidUsername', () => {
    it.each(['abc', 'a_1', 'ABC_def_123', 'x'.repeat(30), '___'])('accepts %p', (name) => {
      expect(isValidUsername(name)).toBe(true);
    });

    it.each(['ab', 'x'.repeat(31), 'a-b-c', 'a b', 'naïve', '用户名', 'abc\n', '', null, 123])('rejects %p', (name) => {
      expect(isValidUsername(name)).toBe(false);
    });

    it('agrees with the character class for any string', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 40 }), (s) => {
          expect(isValidUsername(s)).toBe(s.length >= 3 && s.length <= 30 && [...s].every((c) => /[A-Za-z0-9_]/.test(c)));
        }),
      );
    });
  });

  describe('countGraphemes', () => {
    it.each([
      ['', 0],
      ['abc', 3],
      ['你好世界', 4],
      ['👍', 1],
      ['👍🏽', 1], // emoji + skin tone modifier
      ['👨‍👩‍👧‍👦', 1], // ZWJ family
      ['🇨🇳', 1], // regional indicator pair
      ['e\u0301', 1], // e + combining acute
    ])('%p counts %d', (text, count) => {
      expect(countGraphemes(text)).toBe(count);
    });
  });

  describe('fitsLength', () => {
    it('bounds graphemes and code points', () => {
      expect(fitsLength('👩🏽‍❤️‍💋‍👨🏿'.repeat(3), 3, 30)).toBe(true);
      expect(fitsLength('👩🏽‍❤️‍💋‍👨🏿'.repeat(3), 3, 29)).toBe(false);
      expect(fitsLength('字'.repeat(4), 3, 30)).toBe(false);
      expect(fitsLength(`e${'\u0301'.repeat(20_000)}`, 200, 2000)).toBe(false); // one grapheme
    });

    it('agrees with counting both for any string', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 30 }), fc.nat(40), fc.nat(60), (text, graphemes, codePoints) => {
          expect(fitsLength(text, graphemes, codePoints)).toBe(countGraphemes(text) <= graphemes && [...text].length <= codePoints);
        }),
      );
    });
  });

  describe('hasControlCharacters', () => {
    it.each(['\u0000', '\n', '\r', '\t', '\u001b', '\u007f', '\u0085', '\ud800', 'x\udfffy'])('flags %p', (text) => {
      expect(hasControlCharacters(`a${text}b`)).toBe(true);
    });

    it.each(['plain', '中文', '👨‍👩‍👧‍👦', 'e\u0301', 'a\u3000b'])('allows %p', (text) => {
      expect(hasControlCharacters(text)).toBe(false);
    });
  });

  describe('isHttpUrl', () => {
    it.each([
      'http://example.com',
      'https://example.com/a.png?x=1#f',
      'https://127.0.0.1:8443/a',
      'https://例子.测试/头像.png',
      'HTTPS://EXAMPLE.COM/A',
    ])('accepts %p', (url) => {
      expect(isHttpUrl(url)).toBe(true);
    });

    it.each([
      'ftp://example.com/a',
      'javascript:alert(1)',
      'data:,x',
      '/a.png',
      'example.com',
      'https://',
      'http:///x',
      'http:/x',
      'https:\\\\evil.example',
      ' https://a.b',
      'https://a.b/ c',
      'https://a.b/\u0007',
      '',
      42,
      null,
    ])('rejects %p', (url) => {
      expect(isHttpUrl(url)).toBe(false);
    });

    it('allows at most 2048 characters, counted as code points', () => {
      const base = 'https://example.com/';
      expect(isHttpUrl(base + 'a'.repeat(2048 - base.length))).toBe(true);
      expect(isHttpUrl(base + 'a'.repeat(2049 - base.length))).toBe(false);
      expect(isHttpUrl(base + '😀'.repeat(2048 - base.length))).toBe(true);
    });
  });

  it('normalizeEmail trims and lowercases', () => {
    expect(normalizeEmail('  Alice@Example.COM ')).toBe('alice@example.com');
  });
});
