import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { commonError } from '../errors/common-errors';
import type { Localized } from '../i18n/locale';
import { LONE_SURROGATE } from '../text/unicode';

/**
 * Localized messages per class-validator constraint. A DTO can give its own with
 * `{ context: msg('…', '…') }` on the decorator; otherwise this table answers, and the library's
 * English sentence is the last resort.
 */
const MESSAGES: Record<string, Localized> = {
  whitelistValidation: { 'zh-CN': '不允许的字段', en: 'is not an allowed field' },
  unknownValue: { 'zh-CN': '请求体必须是 JSON 对象', en: 'the body must be a JSON object' },
  isDefined: { 'zh-CN': '不能为空', en: 'is required' },
  isNotEmpty: { 'zh-CN': '不能为空', en: 'must not be empty' },
  isString: { 'zh-CN': '必须是字符串', en: 'must be a string' },
  isEmail: { 'zh-CN': '必须是有效的邮箱地址', en: 'must be a valid email address' },
  isUuid: { 'zh-CN': '必须是 UUID', en: 'must be a UUID' },
  isUrl: { 'zh-CN': '必须是 http(s) 链接', en: 'must be an http(s) URL' },
  isInt: { 'zh-CN': '必须是整数', en: 'must be an integer' },
  isBoolean: { 'zh-CN': '必须是布尔值', en: 'must be a boolean' },
  isObject: { 'zh-CN': '必须是对象', en: 'must be an object' },
  nestedValidation: { 'zh-CN': '必须是对象', en: 'must be an object' },
};

export const msg = (zh: string, en: string): Localized => ({ 'zh-CN': zh, en });

export interface LocalizedFieldError {
  field: string;
  message: Localized;
}

export function flattenValidationErrors(errors: ValidationError[], parent = ''): LocalizedFieldError[] {
  const out: LocalizedFieldError[] = [];
  for (const error of errors) {
    const field = error.property ? (parent ? `${parent}.${error.property}` : error.property) : parent;
    const constraints = error.constraints ?? {};
    // Report one message per field: the first failing constraint is the actionable one.
    const key = Object.keys(constraints)[0];
    if (key !== undefined) {
      const fromDto = (error.contexts?.[key] as Localized | undefined) ?? undefined;
      const message =
        fromDto?.['zh-CN'] && fromDto.en ? fromDto : (MESSAGES[key] ?? { 'zh-CN': '值无效', en: constraints[key] ?? 'is invalid' });
      out.push({ field, message });
    }
    if (error.children?.length) out.push(...flattenValidationErrors(error.children, field));
  }
  return out;
}

/** Deeper than any DTO of ours; far below what overflows class-transformer's recursion (~3000 levels). */
export const MAX_INPUT_DEPTH = 32;

type InputDefect = { readonly field: string; readonly message: Localized };

/**
 * Finds what class-transformer and class-validator cannot take: nesting deeper than
 * {@link MAX_INPUT_DEPTH} (they recurse without a bound and overflow the stack) and strings that
 * are not well-formed Unicode (a lone surrogate such as JSON's "\ud800" makes validator.js's
 * isEmail throw URIError) or hold U+0000 (PostgreSQL text cannot store it: the INSERT failed with
 * 22021 and answered 500). Iterative, so a hostile input cannot overflow the check itself.
 */
export function findInputDefect(value: unknown, root: string): InputDefect | undefined {
  const stack: [unknown, number, string][] = [[value, 0, root]];
  while (stack.length > 0) {
    const [current, depth, field] = stack.pop()!;
    if (typeof current === 'string') {
      if (LONE_SURROGATE.test(current) || current.includes('\u0000'))
        return { field, message: msg('包含无效的字符', 'contains invalid characters') };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= MAX_INPUT_DEPTH)
      return {
        field: root,
        message: msg(`嵌套层级不能超过 ${MAX_INPUT_DEPTH} 层`, `must not be nested more than ${MAX_INPUT_DEPTH} levels deep`),
      };
    for (const [key, child] of Object.entries(current))
      stack.push([child, depth + 1, depth === 0 && (root === 'body' || root === 'query') ? key : `${field}.${key}`]);
  }
  return undefined;
}

/** Refuses {@link findInputDefect}'s inputs with a 422 before class-transformer sees them (they answered 500). */
class GuardedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const defect = metadata.type === 'custom' ? undefined : findInputDefect(value, metadata.type);
    if (defect) throw commonError('validation_failed', { errors: [defect] });
    return super.transform(value, metadata);
  }
}

/** The global pipe: unknown fields rejected, everything else a 422 problem with field errors. */
export function createValidationPipe(): ValidationPipe {
  return new GuardedValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => commonError('validation_failed', { errors: flattenValidationErrors(errors) }),
  });
}
