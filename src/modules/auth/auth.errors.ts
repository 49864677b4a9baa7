import { defineErrors } from '../../common/errors/domain-error';
import { usersError } from '../users/users.errors';

/** Error codes of the auth module. zh-CN sentences are the routes document's where it has one. */
export const authError = defineErrors({
  unauthenticated: { status: 401, detail: { 'zh-CN': '未认证', en: 'Authentication is required.' } },
  invalid_token: { status: 401, detail: { 'zh-CN': '未认证', en: 'The access token is invalid or has expired.' } },
  not_admin: { status: 403, detail: { 'zh-CN': '无权限访问', en: 'You are not allowed to access this resource.' } },
  invalid_otp: { status: 401, detail: { 'zh-CN': '验证码无效或已过期', en: 'The verification code is invalid or has expired.' } },
  invalid_credentials: { status: 401, detail: { 'zh-CN': '邮箱或密码错误', en: 'The email or password is incorrect.' } },
  email_not_confirmed: {
    status: 401,
    detail: {
      'zh-CN': '邮箱尚未验证,请先输入邮件中的验证码',
      en: 'This email address is not confirmed yet. Enter the code from the verification mail first.',
    },
  },
  invalid_refresh_token: { status: 401, detail: { 'zh-CN': '无效的 refresh token', en: 'The refresh token is invalid.' } },
  server_busy: {
    status: 503,
    detail: { 'zh-CN': '服务繁忙,请稍后重试。', en: 'The server is busy. Please try again shortly.' },
  },
  user_not_found: { status: 404, detail: { 'zh-CN': '用户不存在', en: 'The user does not exist.' } },
  // Same code and sentence as the users module's (a rename collision), raised here for signups.
  // The users module owns usernames: same code and sentence whether signup or a rename collides.
  username_taken: usersError.catalogue.username_taken,
});
