export type { AuthUser, Role } from './auth-user';
export { CurrentUser, IS_PUBLIC, Public, REQUIRED_ROLES, Roles } from './decorators';
