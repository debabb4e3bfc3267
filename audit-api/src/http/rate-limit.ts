// Per-tenant token buckets (per replica, @lookout/agent's RateLimiter): a tenant that floods the API gets 429s
// with Retry-After, the others keep their share. Memory is bounded: idle buckets are forgotten.
import { RateLimiter } from '@lookout/agent';
import type { Middleware } from 'koa';
import { ApiError } from '../domain/errors.js';
import type { Principal } from './auth.js';

export function rateLimit(perSecond: number, burst: number, now: () => number = Date.now): Middleware {
  const limiter = new RateLimiter(perSecond, burst, now);
  return async (ctx, next) => {
    const principal = ctx.state.principal as Principal | undefined;
    if (!principal) return next();
    const wait = limiter.take(principal.tenantId);
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      throw new ApiError(429, 'rate_limited', `tenant rate limit of ${perSecond} requests per second exceeded`);
    }
    return next();
  };
}
