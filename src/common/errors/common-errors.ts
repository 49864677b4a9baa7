import { defineErrors } from './domain-error';

/** Cross-cutting errors. Module-specific codes live in each module's `*.errors.ts`. */
export const commonError = defineErrors({
  malformed_json: { status: 400, detail: { 'zh-CN': '请求体不是有效的 JSON。', en: 'The request body is not valid JSON.' } },
  bad_request: { status: 400, detail: { 'zh-CN': '请求无效。', en: 'The request is invalid.' } },
  unauthorized: { status: 401, detail: { 'zh-CN': '未认证。', en: 'Authentication is required.' } },
  forbidden: { status: 403, detail: { 'zh-CN': '无权限访问。', en: 'You are not allowed to access this resource.' } },
  not_found: { status: 404, detail: { 'zh-CN': '请求的资源不存在。', en: 'The requested resource does not exist.' } },
  route_not_found: { status: 404, detail: { 'zh-CN': '请求的接口不存在。', en: 'No route matches this method and path.' } },
  method_not_allowed: { status: 405, detail: { 'zh-CN': '该接口不支持此请求方法。', en: 'This method is not allowed on this route.' } },
  not_acceptable: { status: 406, detail: { 'zh-CN': '无法以请求的格式响应。', en: 'The requested response format is not available.' } },
  request_timeout: { status: 408, detail: { 'zh-CN': '请求超时。', en: 'The request took too long to arrive.' } },
  uri_too_long: { status: 414, detail: { 'zh-CN': '请求路径过长。', en: 'The request path is too long.' } },
  headers_too_large: { status: 431, detail: { 'zh-CN': '请求头过大。', en: 'The request headers are too large.' } },
  conflict: { status: 409, detail: { 'zh-CN': '请求与当前状态冲突。', en: 'The request conflicts with the current state.' } },
  payload_too_large: { status: 413, detail: { 'zh-CN': '请求体过大(上限 64 KiB)。', en: 'The request body is too large (limit 64 KiB).' } },
  unsupported_media_type: {
    status: 415,
    detail: { 'zh-CN': '不支持的 Content-Type,请使用 application/json。', en: 'Unsupported Content-Type; send application/json.' },
  },
  validation_failed: { status: 422, detail: { 'zh-CN': '请求参数无效', en: 'The request parameters are invalid.' } },
  rate_limited: { status: 429, detail: { 'zh-CN': '请求过于频繁', en: 'Too many requests. Please try again later.' } },
  internal_error: {
    status: 500,
    detail: { 'zh-CN': '服务器内部错误,请稍后重试。', en: 'An unexpected error occurred. Please try again later.' },
  },
  dependency_unavailable: {
    status: 503,
    detail: { 'zh-CN': '服务暂时不可用,请稍后重试。', en: 'The service is temporarily unavailable. Please try again shortly.' },
  },
  shutting_down: {
    status: 503,
    detail: { 'zh-CN': '服务正在重启,请稍后重试。', en: 'The service is restarting. Please try again shortly.' },
  },
});

export type CommonErrorCode = keyof typeof commonError.catalogue;
