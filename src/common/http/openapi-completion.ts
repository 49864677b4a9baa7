import type { OpenAPIObject } from '@nestjs/swagger';
import type { HeaderObject, OperationObject, ResponseObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { PROBLEM_SCHEMA_NAME, problemContent } from './api-problems.decorator';

/**
 * What every route of the document answers beyond its own decorators, added to the document in one
 * place: the web client's code is generated from it, so a status or a header the server sends and
 * the document leaves out is a bug there. Written by hand because these come from cross-cutting
 * parts (the request-id hook, the rate-limit guard, Fastify's body parser, the problem filter)
 * that no controller decorator sees.
 */
export interface OpenApiCompletion {
  /** Paths answered without a rate limit and without touching PostgreSQL or Redis (the probes). */
  readonly probePaths: readonly string[];
}

const HEADERS: Record<string, HeaderObject> = {
  'X-Request-Id': {
    description: 'The request id: the caller’s when it sent a sane one (1–128 of [A-Za-z0-9._:-]), else generated.',
    schema: { type: 'string' },
  },
  'X-RateLimit-Limit': { description: 'Requests allowed in the window of the budget this route draws on.', schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { description: 'Requests left in the current window.', schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'Seconds until the window (or the block) ends.', schema: { type: 'integer' } },
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer' } },
  'WWW-Authenticate': { description: 'Always `Bearer` (RFC 6750).', schema: { type: 'string', example: 'Bearer' } },
};

/** Answered by Fastify's body parser, before any guard (so without X-RateLimit-* headers). */
const BODY_PROBLEMS: Record<string, string> = { '400': 'malformed_json', '413': 'payload_too_large', '415': 'unsupported_media_type' };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'] as const;

export function completeOpenApiDocument(doc: OpenAPIObject, options: OpenApiCompletion): OpenAPIObject {
  doc.components ??= {};
  doc.components.schemas ??= {};
  doc.components.schemas[PROBLEM_SCHEMA_NAME] = PROBLEM_SCHEMA;
  doc.components.headers = { ...doc.components.headers, ...HEADERS };
  const strictBodies = new Set<string>();

  for (const [path, item] of Object.entries(doc.paths)) {
    const probe = options.probePaths.includes(path);
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const bodyRef = requestBodyRef(op);
      if (bodyRef) strictBodies.add(bodyRef);

      if (bodyRef) for (const [status, code] of Object.entries(BODY_PROBLEMS)) addProblem(op, status, code);
      if (!probe) {
        addProblem(op, '429', 'rate_limited');
        addProblem(op, '503', 'dependency_unavailable');
      }
      addProblem(op, '500', 'internal_error');

      for (const [status, response] of Object.entries(op.responses) as [string, ResponseObject][]) {
        const headers: string[] = ['X-Request-Id'];
        if (!probe && !(status in BODY_PROBLEMS)) headers.push('X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset');
        if (status === '429' || (status === '503' && isProblem(response))) headers.push('Retry-After');
        if (status === '401') headers.push('WWW-Authenticate');
        response.headers = { ...response.headers, ...Object.fromEntries(headers.map((h) => [h, { $ref: `#/components/headers/${h}` }])) };
      }
    }
  }

  // The global validation pipe refuses unknown fields (422): a generated client must not send any.
  for (const name of strictBodies) {
    const schema = doc.components.schemas[name] as SchemaObject | undefined;
    if (schema) schema.additionalProperties = false;
  }
  return doc;
}

/** Adds `code` to the problem answer for `status`, creating it when the route declares none. */
function addProblem(op: OperationObject, status: string, code: string): void {
  const existing = op.responses[status] as ResponseObject | undefined;
  if (!existing) {
    op.responses[status] = { description: `application/problem+json; code: ${code}`, content: problemContent([code]) };
    return;
  }
  if (!isProblem(existing)) return; // its own body (the readiness probe's 503)
  const codes = problemCodes(existing);
  if (codes.includes(code)) return;
  existing.content = problemContent([...codes, code]);
  existing.description = `application/problem+json; code: ${[...codes, code].join(', ')}`;
}

function isProblem(response: ResponseObject): boolean {
  return response.content?.['application/problem+json'] !== undefined;
}

function problemCodes(response: ResponseObject): string[] {
  const schema = response.content?.['application/problem+json']?.schema as
    { allOf?: { properties?: { code?: { enum?: string[] } } }[] } | undefined;
  return schema?.allOf?.[1]?.properties?.code?.enum ?? [];
}

function requestBodyRef(op: OperationObject): string | undefined {
  const body = op.requestBody as { content?: Record<string, { schema?: { $ref?: string } }> } | undefined;
  const ref = body?.content?.['application/json']?.schema?.$ref;
  return ref?.startsWith('#/components/schemas/') ? ref.slice('#/components/schemas/'.length) : undefined;
}

const PROBLEM_SCHEMA: SchemaObject = {
  type: 'object',
  description: 'RFC 7807 problem details, as every error of this API is answered.',
  required: ['type', 'title', 'status', 'detail', 'instance', 'code'],
  properties: {
    type: { type: 'string', enum: ['about:blank'] },
    title: { type: 'string', description: 'The HTTP status text.' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'A sentence for end users: zh-CN, or English when Accept-Language prefers en.' },
    instance: { type: 'string', description: 'The request path, without its query.' },
    code: { type: 'string', description: 'Stable and machine-readable; the codes each answer can carry are listed with it.' },
    errors: {
      type: 'array',
      description: 'On 422 only: one entry per refused field.',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};
