import { defineErrors } from '../../common/errors/domain-error';

/** Error codes of the users module. zh-CN sentences are the routes document's where it has one. */
export const usersError = defineErrors({
  username_taken: { status: 409, detail: { 'zh-CN': '用户名已被占用', en: 'This username is already taken.' } },
  email_taken: { status: 409, detail: { 'zh-CN': '邮箱已被注册', en: 'This email address is already registered.' } },
  user_not_found: { status: 404, detail: { 'zh-CN': '用户不存在', en: 'The user does not exist.' } },
  no_changes: { status: 422, detail: { 'zh-CN': '请求未包含任何要修改的字段', en: 'The request contains no field to change.' } },
});
