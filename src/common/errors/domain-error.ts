import type { Localized } from '../i18n/locale';

/** How one error code is answered: its HTTP status and its user-facing sentence per locale. */
export interface ErrorSpec {
  readonly status: number;
  readonly detail: Localized;
}

export interface FieldError {
  readonly field: string;
  /** A localized sentence, or one string for every locale. */
  readonly message: string | Localized;
}

export interface DomainErrorOptions {
  /** Seconds, sent as `Retry-After` (429 and 503). */
  readonly retryAfterSeconds?: number;
  /** Field errors for 422 answers, already localized. */
  readonly errors?: readonly FieldError[];
  readonly cause?: unknown;
}

/**
 * The one error type services throw. It carries a stable snake_case `code`; the global problem
 * filter turns it into `application/problem+json`. Services never throw `HttpException`.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly spec: ErrorSpec,
    readonly options: DomainErrorOptions = {},
  ) {
    super(`${code}: ${spec.detail.en}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DomainError';
  }

  get status(): number {
    return this.spec.status;
  }
}

/**
 * Declares a module's error catalogue and returns a typed factory for it:
 * `const usersError = defineErrors({ username_taken: { status: 409, detail: {...} } })`, then
 * `throw usersError('username_taken')`. Unknown codes do not compile.
 */
export function defineErrors<C extends string>(catalogue: Record<C, ErrorSpec>) {
  const factory = (code: C, options?: DomainErrorOptions): DomainError => new DomainError(code, catalogue[code], options);
  factory.catalogue = catalogue;
  return factory;
}
