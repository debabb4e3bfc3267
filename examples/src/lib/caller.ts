// Who is calling an internal service: the gateway authenticates the API key and passes the tenant and
// user on in headers. Internal services trust them (they are reachable only inside the network).
import type { Context } from 'koa';
import { HttpError } from './errors.js';

export const TENANT_HEADER = 'x-tenant-id';
export const USER_HEADER = 'x-user-id';
const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function tenantOf(ctx: Context): string {
  const tenant = ctx.get(TENANT_HEADER);
  if (!TENANT.test(tenant)) throw new HttpError(400, 'invalid_tenant', `${TENANT_HEADER} must be a tenant id (a-z, 0-9, _ and -)`, TENANT_HEADER);
  return tenant;
}

export function userOf(ctx: Context): string {
  const user = ctx.get(USER_HEADER);
  if (user.length === 0 || user.length > 256) throw new HttpError(400, 'invalid_user', `${USER_HEADER} must name the user (1–256 characters)`, USER_HEADER);
  return user;
}
