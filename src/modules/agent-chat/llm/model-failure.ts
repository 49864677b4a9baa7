/**
 * Why a model call failed, in the contract's terms (CONTRACT.md "Model failures"):
 * not configured / unreachable → 503 `model_unavailable`, an error answer → 502 `model_error`,
 * too slow → 504 `model_timeout`. `limit_exceeded` is a model that keeps calling tools past the
 * per-run budget (answered as `model_error`).
 */
export type ModelFailureCode = 'model_unavailable' | 'model_error' | 'model_timeout' | 'limit_exceeded';

export class ModelFailure extends Error {
  constructor(
    readonly code: ModelFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModelFailure';
  }
}

/** A provider's identifier (error type or code, request id): short and plain, or left out. */
const PLAIN_ID = /^[\w.:-]{1,100}$/;

/**
 * What a log line may say about a model failure: our code and message, and of the provider's
 * error its class, HTTP status, error type and code, and request id (to quote to the provider).
 * Never its message: providers and proxies quote the request in it, the user's prompt or the
 * Authorization header (seen: "Incorrect API key provided: Bearer sk-…").
 */
export function describeModelFailure(failure: ModelFailure): Record<string, unknown> {
  const cause = (failure.cause ?? {}) as { name?: unknown; status?: unknown; code?: unknown; type?: unknown; requestID?: unknown };
  const plain = (value: unknown): string | undefined => (typeof value === 'string' && PLAIN_ID.test(value) ? value : undefined);
  return {
    code: failure.code,
    message: failure.message,
    provider_error: plain(cause.name),
    provider_status: typeof cause.status === 'number' ? cause.status : undefined,
    provider_error_type: plain(cause.type),
    provider_error_code: plain(cause.code),
    provider_request_id: plain(cause.requestID),
  };
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Maps whatever a provider client threw to a {@link ModelFailure}; never leaks its text to clients. */
export function classifyModelError(error: unknown): ModelFailure {
  // LangChain wraps what middleware throws (MiddlewareError): our own classification wins.
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e instanceof ModelFailure) return e;
  const e = (error ?? {}) as { name?: unknown; status?: unknown; code?: unknown; cause?: unknown; constructor?: { name?: string } };
  const name = typeof e.name === 'string' ? e.name : '';
  if (name === 'TimeoutError' || e.constructor?.name === 'APIConnectionTimeoutError')
    return new ModelFailure('model_timeout', 'model call timed out', { cause: error });
  if (typeof e.status === 'number') {
    // Wrong key, unknown model, or the provider shedding load: the model is not usable right now.
    if ([401, 403, 404, 429].includes(e.status))
      return new ModelFailure('model_unavailable', `model answered HTTP ${e.status}`, { cause: error });
    return new ModelFailure('model_error', `model answered HTTP ${e.status}`, { cause: error });
  }
  if (e.constructor?.name === 'APIConnectionError' || hasUnreachableCode(error))
    return new ModelFailure('model_unavailable', 'model unreachable', { cause: error });
  return new ModelFailure('model_error', 'model call failed', { cause: error });
}

function hasUnreachableCode(error: unknown, depth = 0): boolean {
  if (depth > 4 || error === null || typeof error !== 'object') return false;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => hasUnreachableCode(inner, depth + 1))) return true;
  return hasUnreachableCode(e.cause, depth + 1);
}
