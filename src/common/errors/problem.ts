import { HttpException } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { isReleasedByConnectionLoss } from '../database/connection-loss';
import { API_SECURITY_HEADERS } from '../http/security-headers';
import { negotiateLocale, type Locale } from '../i18n/locale';
import { commonError, type CommonErrorCode } from './common-errors';
import { DomainError } from './domain-error';

/** RFC 7807 body with the contract's two extensions (`code`, and `errors` on 422). */
export interface ProblemBody {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  errors?: { field: string; message: string }[];
}

export interface Problem {
  readonly body: ProblemBody;
  readonly headers: Readonly<Record<string, string>>;
  /** The error is unexpected (5xx other than a known dependency outage): log it with its stack. */
  readonly unexpected: boolean;
}

export interface ProblemRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/**
 * Turns any thrown value into a problem. The only place where error bodies are formatted: the
 * Nest exception filter and Fastify's own error handler (body parsing happens before Nest sees
 * the request) both call it. Nothing from the error's message reaches the body except for
 * {@link DomainError}s, whose sentences come from a catalogue.
 */
export function toProblem(error: unknown, request: ProblemRequest): Problem {
  const locale = negotiateLocale(request.headers['accept-language']);
  const domain = toDomainError(error);
  const status = domain.status;
  const body: ProblemBody = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: domain.spec.detail[locale],
    instance: pathOf(request.url),
    code: domain.code,
  };
  if (status === 422) body.errors = (domain.options.errors ?? []).map((e) => ({ field: e.field, message: localize(e.message, locale) }));
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  if (domain.options.retryAfterSeconds !== undefined)
    headers['retry-after'] = String(Math.max(1, Math.ceil(domain.options.retryAfterSeconds)));
  else if (status === 429) headers['retry-after'] = '60';
  return { body, headers, unexpected: status >= 500 && domain.code === 'internal_error' };
}

function localize(message: string | Readonly<Record<Locale, string>>, locale: Locale): string {
  return typeof message === 'string' ? message : message[locale];
}

/** The request path without its query string, as `instance`. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

const STATUS_TO_CODE: Record<number, CommonErrorCode> = {
  // Nest turns Fastify's JSON SyntaxError into a plain BadRequestException; the app itself
  // never throws HttpExceptions (validation is 422), so a 400 here is a body that is not JSON.
  400: 'malformed_json',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'route_not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
  503: 'dependency_unavailable',
};

const FASTIFY_CODES: Record<string, CommonErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
  // Node's HTTP parser (clientError): see rawClientErrorResponse.
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
  HPE_HEADER_OVERFLOW: 'headers_too_large',
};

function toDomainError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  if (error instanceof ThrottlerException) return commonError('rate_limited');
  if (isDependencyOutage(error)) return commonError('dependency_unavailable', { retryAfterSeconds: 5, cause: error });
  if (error instanceof HttpException) {
    const code = STATUS_TO_CODE[error.getStatus()];
    return code ? commonError(code) : commonError('internal_error', { cause: error });
  }
  if (typeof error === 'object' && error !== null) {
    const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
    if (typeof code === 'string' && FASTIFY_CODES[code]) return commonError(FASTIFY_CODES[code]);
    // Fastify's JSON parser rejects bad JSON with a SyntaxError carrying statusCode 400.
    if (error instanceof SyntaxError && statusCode === 400) return commonError('malformed_json');
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return commonError(STATUS_TO_CODE[statusCode] ?? 'bad_request');
    }
  }
  return commonError('internal_error', { cause: error });
}

const PG_CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08003', '08006', '08001', '08004']);
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** pg-pool's message when no connection was free (or could be opened) within the connect timeout. */
export const POOL_WAIT_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';
const OUTAGE_MESSAGES = [
  'Connection terminated',
  POOL_WAIT_TIMEOUT_MESSAGE,
  'Connection is closed',
  'Command timed out',
  "Stream isn't writeable",
  'Reached the max retries per request limit',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
];

/**
 * Redis replies that say it cannot serve right now rather than that the command was wrong: a
 * replica after a failover (READONLY), a server loading its data or without a master, a cluster
 * reconfiguring, a full memory (OOM, without an eviction policy, as docs/operations.md asks), a
 * long script (BUSY).
 */
const REDIS_UNAVAILABLE_REPLY = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|BUSY) /;

/** A PostgreSQL or Redis outage (not a bug): answered 503 `dependency_unavailable`. */
export function isDependencyOutage(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e !== 'object') return false;
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && (PG_CONNECTION_CODES.has(code) || NET_CODES.has(code))) return true;
    if (name === 'MaxRetriesPerRequestError' || name === 'RedisUnavailableError') return true;
    if (name === 'ReplyError' && typeof message === 'string' && REDIS_UNAVAILABLE_REPLY.test(message)) return true;
    if (isReleasedByConnectionLoss(e)) return true;
    if (typeof message === 'string' && OUTAGE_MESSAGES.some((m) => message.includes(m))) return true;
    const driverError = (e as { driverError?: unknown }).driverError;
    if (driverError && driverError !== e && isDependencyOutage(driverError)) return true;
  }
  return false;
}

/**
 * A complete HTTP/1.1 response for errors Node's parser raises before any request object exists
 * (bad header bytes, bad Content-Length, oversized headers): still problem+json, in zh-CN since
 * no header could be read, with a fresh request id (the caller's could not be read either) and
 * the security headers every other answer gets from our hooks, which never run for it.
 */
export function rawClientErrorResponse(error: unknown): { readonly text: string; readonly requestId: string; readonly code: string } {
  const code = (error as { code?: unknown }).code;
  const mapped = typeof code === 'string' ? FASTIFY_CODES[code] : undefined;
  const { body } = toProblem(commonError(mapped ?? 'bad_request'), { url: '', headers: {} });
  const json = JSON.stringify(body);
  const requestId = randomUUID();
  const headers = { 'x-request-id': requestId, ...API_SECURITY_HEADERS };
  const text =
    `HTTP/1.1 ${body.status} ${body.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('') +
    `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`;
  return { text, requestId, code: body.code };
}
