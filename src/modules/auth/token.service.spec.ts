import { createHmac } from 'node:crypto';
import { JwtService } from '@nestjs/jwt';
import { loadConfig } from '../../common/config/app-config';
import { jwtSecretKey, TokenService } from './token.service';

const config = loadConfig({ JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789' });
const key = jwtSecretKey(config);

function service(): { tokens: TokenService; jwt: JwtService } {
  const jwt = new JwtService({ privateKey: key, publicKey: key, signOptions: { algorithm: 'HS256' } });
  return { tokens: new TokenService(jwt, config), jwt };
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT signed with `secret`, claims as given (the service would never issue these). */
function forge(claims: Record<string, unknown>, secret = config.jwt.secret): string {
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);
const genuine = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  sub: 'u1',
  sid: 's1',
  role: 'user',
  iat: now(),
  exp: now() + 60,
  iss: config.jwt.issuer,
  aud: config.jwt.audience,
  ...overrides,
});

describe('TokenService.issueAccessToken', () => {
  it('signs HS256 with exactly the seven claims, exp one access TTL after iat', () => {
    const { tokens } = service();
    const before = now();
    const [header, payload] = tokens
      .issueAccessToken({ userId: 'u1', sessionId: 's1', role: 'admin' })
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toEqual({
      sub: 'u1',
      sid: 's1',
      role: 'admin',
      iat: expect.any(Number),
      exp: expect.any(Number),
      iss: config.jwt.issuer,
      aud: config.jwt.audience,
    });
    expect(payload!.iat).toBeGreaterThanOrEqual(before);
    expect(payload!.iat).toBeLessThanOrEqual(now());
    expect((payload!.exp as number) - (payload!.iat as number)).toBe(config.jwt.accessTtlSeconds);
  });
});

describe('TokenService.verifyAccessToken', () => {
  afterEach(() => jest.restoreAllMocks());

  it('names the caller of a token it issued', () => {
    const { tokens } = service();
    const token = tokens.issueAccessToken({ userId: 'u1', sessionId: 's1', role: 'admin' });
    expect(tokens.verifyAccessToken(token)).toEqual({ id: 'u1', sessionId: 's1', role: 'admin' });
  });

  it('verifies a token once, then remembers it', () => {
    const { tokens, jwt } = service();
    const token = tokens.issueAccessToken({ userId: 'u1', sessionId: 's1', role: 'user' });
    const verify = jest.spyOn(jwt, 'verify');
    expect(tokens.verifyAccessToken(token)).toEqual({ id: 'u1', sessionId: 's1', role: 'user' });
    expect(tokens.verifyAccessToken(token)).toEqual({ id: 'u1', sessionId: 's1', role: 'user' });
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('never remembers a refusal: a failing token is verified (and refused) every time', () => {
    const { tokens, jwt } = service();
    const verify = jest.spyOn(jwt, 'verify');
    const forged = forge(genuine(), 'another-secret-that-is-long-enough-0123456789');
    expect(tokens.verifyAccessToken(forged)).toBeUndefined();
    expect(tokens.verifyAccessToken(forged)).toBeUndefined();
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('refuses a remembered token once it expires, as jsonwebtoken does (now >= exp)', () => {
    const { tokens } = service();
    const exp = now() + 5;
    const token = forge(genuine({ exp }));
    expect(tokens.verifyAccessToken(token)).toEqual({ id: 'u1', sessionId: 's1', role: 'user' });
    jest.spyOn(Date, 'now').mockReturnValue((exp - 1) * 1000 + 999);
    expect(tokens.verifyAccessToken(token)).toBeDefined();
    jest.spyOn(Date, 'now').mockReturnValue(exp * 1000);
    expect(tokens.verifyAccessToken(token)).toBeUndefined();
  });

  it('refuses a remembered token with any byte changed', () => {
    const { tokens } = service();
    const token = forge(genuine());
    expect(tokens.verifyAccessToken(token)).toBeDefined();
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    expect(tokens.verifyAccessToken(token.slice(0, -1) + last)).toBeUndefined();
    const [header, , signature] = token.split('.');
    expect(tokens.verifyAccessToken(`${header}.${b64(genuine({ role: 'admin' }))}.${signature}`)).toBeUndefined();
  });

  it('refuses other keys, algorithms, issuers, audiences, expired tokens and missing or unknown claims', () => {
    const { tokens } = service();
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(genuine())}.`;
    const refused = [
      forge(genuine(), 'another-secret-that-is-long-enough-0123456789'),
      none,
      forge(genuine({ iss: 'someone-else' })),
      forge(genuine({ aud: 'someone-else' })),
      forge(genuine({ exp: now() - 1 })),
      forge(genuine({ exp: undefined })),
      forge(genuine({ sid: undefined })),
      forge(genuine({ sub: 42 })),
      forge(genuine({ role: 'root' })),
      'not.a.jwt',
      '',
    ];
    for (const token of refused) expect(tokens.verifyAccessToken(token)).toBeUndefined();
    expect(tokens.verifyAccessToken(forge(genuine()))).toBeDefined(); // the forge itself is faithful
  });
});
