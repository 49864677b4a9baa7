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
