// The gateway: the public API of the example system. Authenticates an API key (x-api-key) to a tenant
// and user, limits each key's rate, and forwards to the runs service with the tenant, user and request id in
// headers. It records authentication where it happens: auth.api_key.accepted, .rejected and .rate_limited.
import Router from '@koa/router';
import type { Context } from 'koa';
import { createAuditClient, createLogger, RateLimiter, setUser } from '@lookout/agent';
import { gatewayConfig, type ApiKey } from './config.js';
import { serviceApp } from './lib/app.js';
import { auditTokens } from './lib/audit-token.js';
import { KeyAudit, keyId, requestOf, type KeyRejection } from './lib/key-audit.js';
import { callService } from './lib/call.js';
import { TENANT_HEADER, USER_HEADER } from './lib/caller.js';
import { HttpError } from './lib/errors.js';
import { FaultInjector } from './lib/fault.js';
import { healthEndpoints, serviceDependency } from './lib/health.js';
import { main, serve } from './lib/serve.js';

const log = createLogger({ defaultMeta: { component: 'gateway' } });

async function start(): Promise<void> {
  const config = gatewayConfig((message) => log.warn(message));
  const faults = config.faultInjection ? new FaultInjector('gateway', log) : undefined;
  const audit = createAuditClient(config.auditJwtSecret ? { token: auditTokens(config.auditJwtSecret, 'gateway') } : {});
  const keys = new KeyAudit({ audit, acceptedEveryMs: config.acceptedEveryMs, refusedEveryMs: config.refusedEveryMs, systemTenant: config.systemTenant });
  const limiter = new RateLimiter(config.rateLimitPerSecond, config.rateLimitBurst);
  // Without a key to name keys by (no API_KEY_HMAC_KEY and no audit secret), a per-process random one: ids then
  // match within this process only, which is all the rate limiter needs.
  const hmacKey = config.apiKeyHmacKey ?? crypto.getRandomValues(Buffer.alloc(32));
  // Keys are compared as the map holds them; the id of a known key is computed once.
  const ids = new Map([...config.apiKeys.keys()].map((key) => [key, keyId(hmacKey, key)]));

  const authenticate = (ctx: Context): ApiKey => {
    const presented = ctx.get('x-api-key');
    const request = requestOf(ctx.method, ctx.path);
    const refuse = (reason: KeyRejection, id?: string): never => {
      keys.rejected(reason, id, request);
      log.warn('api key refused', { path: ctx.path, reason, key_id: id });
      throw new HttpError(401, 'invalid_api_key', 'send a valid API key in the x-api-key header', 'x-api-key');
    };
    if (presented === '') return refuse('missing');
    // A key is printable ASCII without spaces, and short: anything else is not one (and is not hashed or kept).
    if (presented.length > 256 || !/^[\x21-\x7e]+$/.test(presented)) return refuse('malformed');
    const key = config.apiKeys.get(presented);
    const id = ids.get(presented) ?? keyId(hmacKey, presented);
    if (!key) return refuse('unknown', id);
    const retryAfterS = limiter.take(id);
    if (retryAfterS > 0) {
      keys.rateLimited(key.tenant, key.user, id, { perSecond: limiter.rate, burst: limiter.burst, retryAfterS }, request);
      ctx.set('Retry-After', String(retryAfterS));
      throw new HttpError(429, 'rate_limited', `this API key is over its limit of ${limiter.rate} requests per second (burst ${limiter.burst}); retry after ${retryAfterS} s`);
    }
    keys.accepted(key.tenant, key.user, id, request);
    return key;
  };

  /** Forwards to the runs service and relays its status and body (its errors are already in our format). */
  const forward = async (ctx: Context, method: string, path: string, body?: unknown) => {
    const caller = authenticate(ctx);
    // The API key's user, on this request's spans and later log lines: errors say how many users they touched.
    setUser({ id: caller.user });
    const reply = await callService(config.runsUrl, method, path, {
      headers: { [TENANT_HEADER]: caller.tenant, [USER_HEADER]: caller.user },
      body,
      timeoutMs: config.upstreamTimeoutMs,
    });
    if (reply.status >= 500) log.warn('runs service failed', { status: reply.status, path });
    // An upstream 5xx is this gateway's 502: the caller did nothing wrong, and the runs service is the one at fault.
    ctx.status = reply.status >= 500 ? 502 : reply.status;
    ctx.body = reply.status >= 500 ? { error: { code: 'upstream_error', message: `the runs service answered ${reply.status}` } } : reply.body;
  };

  const router = new Router({ prefix: '/api' });
  router.post('/workflows/:workflowId/runs', (ctx) => forward(ctx, 'POST', `/workflows/${encodeURIComponent(ctx.params.workflowId!)}/runs`, {}));
  router.get('/runs', (ctx) => forward(ctx, 'GET', `/runs?${new URLSearchParams({ limit: String(ctx.query.limit ?? 20) })}`));
  router.get('/runs/:id', (ctx) => forward(ctx, 'GET', `/runs/${encodeURIComponent(ctx.params.id!)}`));

  // Required: every API call is forwarded to the runs service.
  const health = healthEndpoints({
    dependencies: [
      serviceDependency('runs', config.runsUrl, true),
      // Not required: the audit client buffers and retries while the audit API is away; requests go on.
      ...(config.auditUrl ? [serviceDependency('audit-api', config.auditUrl, false)] : []),
    ],
  });
  await serve('gateway', serviceApp(log, { jsonLimit: '16kb', health, faults }, router), config, log, () => audit.shutdown(5000));
}

main(log, start);
