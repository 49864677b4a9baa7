import { bearerToken } from './bearer-token.strategy';

describe('bearerToken', () => {
  it('takes the token of a Bearer header, whatever the scheme case and spacing', () => {
    expect(bearerToken('Bearer abc.DEF-_~+/.x==')).toBe('abc.DEF-_~+/.x==');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('BEARER   abc  ')).toBe('abc');
  });

  it('refuses other schemes, a missing or split token, and characters outside a b64token', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic abc',
      'Bearerabc',
      'Bearer a b',
      'Bearer a\tb',
      'Bearer a=b',
      'Bearer <a>',
      'x Bearer abc',
    ]) {
      expect(bearerToken(header)).toBeUndefined();
    }
  });
});
