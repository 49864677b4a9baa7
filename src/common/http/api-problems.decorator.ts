import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { ContentObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/** The problem+json schema's name among the document's components (added by completeOpenApiDocument). */
export const PROBLEM_SCHEMA_NAME = 'Problem';

/** A problem+json body whose `code` is one of `codes`. */
export function problemContent(codes: readonly string[]): ContentObject {
  return {
    'application/problem+json': {
      schema: {
        allOf: [
          { $ref: `#/components/schemas/${PROBLEM_SCHEMA_NAME}` },
          { type: 'object', properties: { code: { type: 'string', enum: [...codes] } } },
        ],
      },
    },
  };
}

/**
 * Documents a route's problem answers, `status: 'code, code…'`, each with its codes as the enum of
 * `code`. What every route answers besides (429, 500, 503, the body parser's 400/413/415) and the
 * headers are added to the whole document by completeOpenApiDocument.
 */
export const ApiProblems = (problems: Record<number, string>): MethodDecorator =>
  applyDecorators(
    ...Object.entries(problems).map(([status, codes]) => {
      const list = codes.split(',').map((c) => c.trim());
      return ApiResponse({
        status: Number(status),
        description: `application/problem+json; code: ${list.join(', ')}`,
        content: problemContent(list),
      });
    }),
  );
