// The gateway: the public API of the example system. Authenticates an API key (x-api-key) to a tenant
// and user, and forwards to the runs service with the tenant, user and request id in headers.
import Router from '@koa/router';
import type { Context } from 'koa';
import { createLogger, setUser } from '@lookout/agent';
import { gatewayConfig, type ApiKey } from './config.js';
import { serviceApp } from './lib/app.js';
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

  const authenticate = (ctx: Context): ApiKey => {
    const key = config.apiKeys.get(ctx.get('x-api-key'));
    if (!key) {
      log.warn('api key refused', { path: ctx.path, present: ctx.get('x-api-key') !== '' });
      throw new HttpError(401, 'invalid_api_key', 'send a valid API key in the x-api-key header', 'x-api-key');
    }
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
  const health = healthEndpoints({ dependencies: [serviceDependency('runs', config.runsUrl, true)] });
  await serve('gateway', serviceApp(log, { jsonLimit: '16kb', health, faults }, router), config, log);
}

main(log, start);
