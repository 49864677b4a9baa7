import { z } from 'zod';

/**
 * The only place that reads the environment. Everything else receives a validated,
 * typed, frozen {@link AppConfig} through dependency injection.
 */

const DEV_JWT_SECRET = 'dev-only-insecure-jwt-secret-change-me-0123456789';
/** CONTRACT.md: a signup code is valid for 10 minutes. */
const CODE_TTL_SECONDS = 600;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const list = (raw: string | undefined): string[] =>
  (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

const bool = (name: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], {
      error: `${name} must be true or false`,
    })
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const urlWithProtocol = (name: string, protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { error: `${name} must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const origin = (name: string) =>
  z.string().refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value.replace(/\/$/, '');
      } catch {
        return false;
      }
    },
    { error: `${name} entries must be origins such as https://app.example.com (scheme, host, optional port)` },
  );

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LLM_PROVIDERS = ['offline', 'openai', 'fake'] as const;

const schema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], { error: 'NODE_ENV must be development, production or test' })
    .default('development'),
  PORT: z.coerce.number({ error: 'PORT must be a number' }).int().min(0).max(65535).default(3000),
  DATABASE_URL: urlWithProtocol('DATABASE_URL', ['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/runtime'),
  REDIS_URL: urlWithProtocol('REDIS_URL', ['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().max(100).default('rt:'),
  JWT_SECRET: z.string().optional(),
  JWT_ISSUER: z.string().min(1).default('runtime-api'),
  JWT_AUDIENCE: z.string().min(1).default('runtime-web'),
  SMTP_URL: urlWithProtocol('SMTP_URL', ['smtp:', 'smtps:']).optional(),
  MAIL_FROM: z.email({ error: 'MAIL_FROM must be an email address' }).default('no-reply@localhost'),
  ADMIN_EMAILS: z.string().optional(),
  REDIRECT_ALLOWLIST: z.string().optional(),
  TRUST_PROXY: bool('TRUST_PROXY').default(false),
  CORS_ORIGINS: z.string().optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  LLM_PROVIDER: z.enum(LLM_PROVIDERS, { error: `LLM_PROVIDER must be one of ${LLM_PROVIDERS.join(', ')}` }).optional(),
  LLM_MODEL: z.string().optional(),
  LLM_BASE_URL: urlWithProtocol('LLM_BASE_URL', ['http:', 'https:']).optional(),
  LLM_API_KEY: z.string().optional(),
  AGENT_TOOLS: z.string().optional(),
  AGENT_RUN_TIMEOUT_MS: z.coerce.number({ error: 'AGENT_RUN_TIMEOUT_MS must be a number' }).int().min(1).max(600_000).default(60_000),
  AGENT_MODEL_TIMEOUT_MS: z.coerce.number({ error: 'AGENT_MODEL_TIMEOUT_MS must be a number' }).int().min(1).max(600_000).default(30_000),
  AGENT_TOOL_TIMEOUT_MS: z.coerce.number({ error: 'AGENT_TOOL_TIMEOUT_MS must be a number' }).int().min(1).max(600_000).default(10_000),
  AGENT_RUNS_PER_MINUTE: z.coerce.number({ error: 'AGENT_RUNS_PER_MINUTE must be a number' }).int().min(1).default(20),
  AGENT_SSE_HEARTBEAT_MS: z.coerce.number({ error: 'AGENT_SSE_HEARTBEAT_MS must be a number' }).int().min(10).max(60_000).default(15_000),
  DB_MIGRATIONS_RUN: bool('DB_MIGRATIONS_RUN').default(true),
  DB_POOL_SIZE: z.coerce.number({ error: 'DB_POOL_SIZE must be a number' }).int().min(1).max(200).default(20),
  RATE_LIMIT_DEFAULT_PER_MINUTE: z.coerce.number().int().min(1).default(300),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(500).max(300_000).default(30_000),
  // Auth timings: CONTRACT.md's values are the defaults; tests shorten them instead of sleeping.
  AUTH_REFRESH_GRACE_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
  AUTH_MAIL_MIN_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  AUTH_LOGIN_BACKOFF_BASE_SECONDS: z.coerce.number().int().min(1).max(900).default(60),
  MAIL_POLL_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(5000),
  MAIL_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(10_000),
  // Well under the outbox lease (120 s), so a cut conversation is retried by its own replica, never re-claimed.
  MAIL_SEND_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(30_000),
  MAIL_OUTBOX_LANE: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'MAIL_OUTBOX_LANE must be 1-64 of [A-Za-z0-9_.:-]' })
    .default('default'),
});

/** Every environment variable the app reads (deployment files are checked against it). */
export const SETTING_NAMES: readonly string[] = Object.keys(schema.shape);

type Env = Record<string, string | undefined>;

export interface AppConfig {
  readonly env: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly port: number;
  readonly database: { readonly url: string; readonly migrationsRun: boolean; readonly poolSize: number };
  readonly redis: { readonly url: string; readonly keyPrefix: string };
  readonly jwt: {
    readonly secret: string;
    readonly usingDevSecret: boolean;
    readonly issuer: string;
    readonly audience: string;
    readonly accessTtlSeconds: number;
  };
  readonly mail: {
    readonly smtpUrl: string | undefined;
    readonly from: string;
    /** How often the outbox worker looks for due mail (it is also woken right after each commit). */
    readonly pollIntervalMs: number;
    /** First retry delay after a transient SMTP failure; doubles per attempt (capped). */
    readonly retryBaseMs: number;
    /** Tries per mail, counted when claimed; a limit on top of {@link retryWindowMs}. */
    readonly maxAttempts: number;
    /** A failed mail is tried again only while the next try falls within this time from its queueing: a code's validity. */
    readonly retryWindowMs: number;
    /** Hard limit on one SMTP conversation, connect to final reply; past it the connection is destroyed. */
    readonly sendTimeoutMs: number;
    /**
     * Workers drain only their lane of the shared outbox. One lane in production (every replica
     * sends every mail); each e2e test app has its own, since all test files share one database.
     */
    readonly outboxLane: string;
  };
  readonly auth: {
    readonly adminEmails: readonly string[];
    readonly redirectAllowlist: readonly string[];
    readonly codeTtlSeconds: number;
    readonly codeMaxAttempts: number;
    /** Per email, whatever its state: at most one mail per this many seconds... */
    readonly mailMinIntervalSeconds: number;
    /** ...and at most this many per hour. */
    readonly mailHourlyLimit: number;
    readonly loginFailureLimit: number;
    readonly loginFailureWindowSeconds: number;
    readonly loginBackoffBaseSeconds: number;
    readonly loginBackoffMaxSeconds: number;
    /** A rotated refresh token replays its replacement for this long (concurrent tabs). */
    readonly refreshGraceMs: number;
    readonly sessionIdleSeconds: number;
    readonly sessionMaxSeconds: number;
  };
  readonly http: {
    readonly trustProxy: boolean;
    readonly corsOrigins: readonly string[];
    readonly bodyLimitBytes: number;
    /** Longest a client may take to send a whole request (headers and body); then 408 and the connection closes. */
    readonly requestTimeoutMs: number;
    readonly shutdownTimeoutMs: number;
    /** CONTRACT.md: 300 per minute per IP; overridable so tests can exceed it cheaply. */
    readonly defaultRateLimitPerMinute: number;
  };
  readonly log: { readonly level: (typeof LOG_LEVELS)[number] };
  readonly llm: {
    readonly provider: (typeof LLM_PROVIDERS)[number] | undefined;
    readonly model: string | undefined;
    readonly baseUrl: string | undefined;
    readonly apiKey: string | undefined;
    readonly tools: readonly string[] | undefined;
    /** CONTRACT.md limits (60 s / 30 s / 10 s, 20 runs per minute per user); overridable so tests stay fast. */
    readonly runTimeoutMs: number;
    readonly modelTimeoutMs: number;
    readonly toolTimeoutMs: number;
    readonly runsPerMinute: number;
    /** SSE heartbeat comment interval (CONTRACT.md: 15 s). */
    readonly sseHeartbeatMs: number;
  };
}

/** Nest injection token for the typed configuration. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * Parses and validates the environment. Throws {@link ConfigError} listing every problem,
 * one line each, so an operator can fix them all at once.
 */
export function loadConfig(env: Env): AppConfig {
  // Empty strings mean "unset" (docker-compose and k8s often pass KEY= for optional values).
  const cleaned: Env = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      problems.push(issue.message.startsWith(key) ? issue.message : `${key}: ${issue.message}`);
    }
  }
  // The checks below run even when some value is invalid, on the values that are valid, so an
  // operator sees every problem at once. "Required" means absent: an invalid value is reported
  // above as invalid, not also as missing.
  const v = parsed.success ? parsed.data : validValues(cleaned);
  const isSet = (name: keyof Parsed): boolean => cleaned[name] !== undefined;
  const isProduction = v.NODE_ENV === 'production';

  if (v.JWT_SECRET !== undefined && v.JWT_SECRET.length < 32) {
    problems.push('JWT_SECRET must be at least 32 characters long');
  } else if (v.JWT_SECRET === DEV_JWT_SECRET && isProduction) {
    problems.push('JWT_SECRET must not be the development default in production');
  }
  if (isProduction && !isSet('JWT_SECRET')) {
    problems.push('JWT_SECRET is required in production (at least 32 random characters)');
  }
  if (isProduction && !isSet('SMTP_URL')) {
    problems.push('SMTP_URL is required in production (e.g. smtp://user:pass@host:587)');
  }
  if (isProduction && v.LLM_PROVIDER === 'fake') {
    problems.push('LLM_PROVIDER=fake is for tests only and is refused in production');
  }
  if (v.LLM_PROVIDER === 'openai' && !isSet('LLM_MODEL')) {
    problems.push('LLM_MODEL is required when LLM_PROVIDER=openai');
  }

  const adminEmails = list(v.ADMIN_EMAILS).map((s) => s.toLowerCase());
  for (const email of adminEmails) {
    if (!z.email().safeParse(email).success) problems.push(`ADMIN_EMAILS: "${email}" is not an email address`);
  }
  const redirectAllowlist = list(v.REDIRECT_ALLOWLIST).map((s) => s.replace(/\/$/, ''));
  for (const o of redirectAllowlist) {
    if (!origin('REDIRECT_ALLOWLIST').safeParse(o).success)
      problems.push(`REDIRECT_ALLOWLIST: "${o}" is not an origin such as https://app.example.com`);
  }
  const corsOrigins = list(v.CORS_ORIGINS).map((s) => s.replace(/\/$/, ''));
  for (const o of corsOrigins) {
    if (!origin('CORS_ORIGINS').safeParse(o).success)
      problems.push(`CORS_ORIGINS: "${o}" is not an origin such as https://app.example.com`);
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;

  return deepFreeze({
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    database: { url: e.DATABASE_URL, migrationsRun: e.DB_MIGRATIONS_RUN, poolSize: e.DB_POOL_SIZE },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    jwt: {
      secret: e.JWT_SECRET ?? DEV_JWT_SECRET,
      usingDevSecret: e.JWT_SECRET === undefined,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTtlSeconds: 3600,
    },
    mail: {
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM,
      pollIntervalMs: e.MAIL_POLL_INTERVAL_MS,
      retryBaseMs: e.MAIL_RETRY_BASE_MS,
      maxAttempts: 10,
      retryWindowMs: CODE_TTL_SECONDS * 1000,
      sendTimeoutMs: e.MAIL_SEND_TIMEOUT_MS,
      outboxLane: e.MAIL_OUTBOX_LANE,
    },
    auth: {
      adminEmails,
      redirectAllowlist,
      codeTtlSeconds: CODE_TTL_SECONDS,
      codeMaxAttempts: 5,
      mailMinIntervalSeconds: e.AUTH_MAIL_MIN_INTERVAL_SECONDS,
      mailHourlyLimit: 5,
      loginFailureLimit: 10,
      loginFailureWindowSeconds: 15 * 60,
      loginBackoffBaseSeconds: e.AUTH_LOGIN_BACKOFF_BASE_SECONDS,
      loginBackoffMaxSeconds: 15 * 60,
      refreshGraceMs: e.AUTH_REFRESH_GRACE_MS,
      sessionIdleSeconds: 30 * 24 * 3600,
      sessionMaxSeconds: 90 * 24 * 3600,
    },
    http: {
      trustProxy: e.TRUST_PROXY,
      corsOrigins,
      bodyLimitBytes: 64 * 1024,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      defaultRateLimitPerMinute: e.RATE_LIMIT_DEFAULT_PER_MINUTE,
    },
    log: { level: e.LOG_LEVEL },
    llm: {
      provider: e.LLM_PROVIDER ?? (isProduction ? undefined : 'offline'),
      model: e.LLM_MODEL,
      baseUrl: e.LLM_BASE_URL,
      apiKey: e.LLM_API_KEY,
      tools: e.AGENT_TOOLS === undefined ? undefined : list(e.AGENT_TOOLS),
      runTimeoutMs: e.AGENT_RUN_TIMEOUT_MS,
      modelTimeoutMs: e.AGENT_MODEL_TIMEOUT_MS,
      toolTimeoutMs: e.AGENT_TOOL_TIMEOUT_MS,
      runsPerMinute: e.AGENT_RUNS_PER_MINUTE,
      sseHeartbeatMs: e.AGENT_SSE_HEARTBEAT_MS,
    },
  });
}

type Parsed = z.infer<typeof schema>;

/** Each variable on its own: the valid ones (with their defaults), when the whole did not parse. */
function validValues(env: Env): Partial<Parsed> {
  const values: Partial<Record<keyof Parsed, unknown>> = {};
  for (const [name, field] of Object.entries(schema.shape)) {
    const result = field.safeParse(env[name]);
    if (result.success) values[name as keyof Parsed] = result.data;
  }
  return values as Partial<Parsed>;
}

/** Reads `process.env`: the single sanctioned access point. */
export function loadConfigFromProcessEnv(): AppConfig {
  return loadConfig(process.env);
}

/**
 * For entry points (server, CLI, migrations): the configuration, or one clear line per problem
 * on stderr and exit code 1, never a stack trace.
 */
export function loadConfigOrExit(): AppConfig {
  try {
    return loadConfigFromProcessEnv();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
    process.exit(1);
  }
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) {
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) deepFreeze(v as object);
  }
  return Object.freeze(value);
}
