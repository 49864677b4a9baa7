import { ConfigError, loadConfig } from './app-config';

const strongSecret = 'x'.repeat(40);
const production = { NODE_ENV: 'production', JWT_SECRET: strongSecret, SMTP_URL: 'smtp://mail:25', LLM_PROVIDER: 'offline' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('has the contract defaults outside production', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/runtime');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.mail).toEqual(expect.objectContaining({ smtpUrl: undefined, from: 'no-reply@localhost' }));
    expect(config.http.trustProxy).toBe(false);
    expect(config.http.corsOrigins).toEqual([]);
    expect(config.log.level).toBe('info');
    expect(config.database.migrationsRun).toBe(true);
    expect(config.jwt.usingDevSecret).toBe(true);
    expect(config.llm.provider).toBe('offline');
    expect(Object.isFrozen(config.http)).toBe(true);
  });

  it('parses lists and normalizes them', () => {
    const config = loadConfig({
      ADMIN_EMAILS: ' Boss@Example.com , ops@example.com ',
      CORS_ORIGINS: 'https://app.example.com/,http://localhost:5173',
      REDIRECT_ALLOWLIST: 'https://app.example.com',
      TRUST_PROXY: 'true',
    });
    expect(config.auth.adminEmails).toEqual(['boss@example.com', 'ops@example.com']);
    expect(config.http.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(config.auth.redirectAllowlist).toEqual(['https://app.example.com']);
    expect(config.http.trustProxy).toBe(true);
  });

  it('accepts a complete production configuration', () => {
    expect(problemsOf(production)).toEqual([]);
  });

  it('lists every production problem, one line each', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      'JWT_SECRET is required in production (at least 32 random characters)',
      'SMTP_URL is required in production (e.g. smtp://user:pass@host:587)',
    ]);
  });

  it('reports invalid values and missing production settings together, one line each', () => {
    expect(problemsOf({ NODE_ENV: 'production', PORT: 'abc' })).toEqual([
      'PORT must be a number',
      'JWT_SECRET is required in production (at least 32 random characters)',
      'SMTP_URL is required in production (e.g. smtp://user:pass@host:587)',
    ]);
    // An invalid value is reported as invalid, not also as missing; the checks on valid ones still run.
    expect(
      problemsOf({ ...production, SMTP_URL: 'http://mail', LLM_PROVIDER: 'openai', JWT_SECRET: 'short', ADMIN_EMAILS: 'nobody' }),
    ).toEqual([
      'SMTP_URL must be a URL starting with smtp:// or smtps://',
      'JWT_SECRET must be at least 32 characters long',
      'LLM_MODEL is required when LLM_PROVIDER=openai',
      'ADMIN_EMAILS: "nobody" is not an email address',
    ]);
    expect(problemsOf({ ...production, LLM_PROVIDER: 'gpt' })).toEqual(['LLM_PROVIDER must be one of offline, openai, fake']);
  });

  it('rejects weak or invalid values in every environment', () => {
    const problems = problemsOf({
      JWT_SECRET: 'short',
      PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      TRUST_PROXY: 'maybe',
      LOG_LEVEL: 'loud',
      CORS_ORIGINS: 'not a url',
      ADMIN_EMAILS: 'nobody',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT/),
        expect.stringMatching(/^DATABASE_URL/),
        expect.stringMatching(/^TRUST_PROXY/),
        expect.stringMatching(/^LOG_LEVEL/),
      ]),
    );
    expect(problemsOf({ JWT_SECRET: 'short' })).toEqual(['JWT_SECRET must be at least 32 characters long']);
    expect(problemsOf({ CORS_ORIGINS: 'not a url', ADMIN_EMAILS: 'nobody' })).toEqual([
      'ADMIN_EMAILS: "nobody" is not an email address',
      'CORS_ORIGINS: "not a url" is not an origin such as https://app.example.com',
    ]);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ SMTP_URL: '', PORT: '' }).port).toBe(3000);
  });

  it('runs without a chat model in production when LLM_PROVIDER is unset (agent runs answer 503), never the demo model by default', () => {
    const { LLM_PROVIDER: _, ...withoutModel } = production;
    expect(problemsOf(withoutModel)).toEqual([]);
    expect(loadConfig(withoutModel).llm.provider).toBeUndefined();
    expect(loadConfig({ ...withoutModel, NODE_ENV: 'development' }).llm.provider).toBe('offline');
  });

  it('refuses the fake model in production and requires a model name for openai', () => {
    expect(problemsOf({ ...production, LLM_PROVIDER: 'fake' })).toEqual([
      'LLM_PROVIDER=fake is for tests only and is refused in production',
    ]);
    expect(problemsOf({ LLM_PROVIDER: 'openai' })).toEqual(['LLM_MODEL is required when LLM_PROVIDER=openai']);
  });
});
