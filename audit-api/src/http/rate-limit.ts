// Per-tenant token buckets (per replica): a tenant that floods the API gets 429s with Retry-After, the
// others keep their share. Memory is bounded: idle buckets are forgotten.
import type { Middleware } from 'koa';
import { ApiError } from '../domain/errors.js';
import type { Principal } from './auth.js';

interface Bucket {
  tokens: number;
  updated: number;
}

export function rateLimit(perSecond: number, burst: number, now: () => number = Date.now): Middleware {
  const buckets = new Map<string, Bucket>();
  return async (ctx, next) => {
    const principal = ctx.state.principal as Principal | undefined;
    if (!principal) return next();
    const t = now();
    let bucket = buckets.get(principal.tenantId);
    if (!bucket) {
      if (buckets.size >= 10_000) forgetIdle(buckets, t, burst / perSecond);
      buckets.set(principal.tenantId, (bucket = { tokens: burst, updated: t }));
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.updated) / 1000) * perSecond);
    bucket.updated = t;
    if (bucket.tokens < 1) {
      ctx.set('Retry-After', String(Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond))));
      throw new ApiError(429, 'rate_limited', `tenant rate limit of ${perSecond} requests per second exceeded`);
    }
    bucket.tokens -= 1;
    return next();
  };
}

/** Drops buckets that have refilled completely: they are indistinguishable from new ones. */
function forgetIdle(buckets: Map<string, Bucket>, now: number, refillSeconds: number): void {
  for (const [tenant, bucket] of buckets) if (now - bucket.updated > refillSeconds * 1000) buckets.delete(tenant);
}
