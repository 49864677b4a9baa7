import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';

const PROBLEM = {
  'application/problem+json': {
    schema: {
      type: 'object',
      required: ['type', 'title', 'status', 'detail', 'instance', 'code'],
      properties: {
        type: { type: 'string', example: 'about:blank' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        instance: { type: 'string' },
        code: { type: 'string' },
        errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
};

/** Documents a route's problem answers as `status: code, code…` in the OpenAPI document. */
export const ApiProblems = (problems: Record<number, string>): MethodDecorator =>
  applyDecorators(
    ...Object.entries(problems).map(([status, codes]) =>
      ApiResponse({ status: Number(status), description: `application/problem+json; code: ${codes}`, content: PROBLEM }),
    ),
  );
