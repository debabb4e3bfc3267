// createApp(deps): the Koa application, every middleware composed here in order, no I/O at import time.
import type { ServerResponse } from 'node:http';
import Router from '@koa/router';
import { uuidv7 } from '@lookout/agent';
import Koa, { type Context } from 'koa';
import type { Knex } from 'knex';
import type { Logger } from 'winston';
import type { AuditConfig } from './config.js';
import { ApiError } from './domain/errors.js';
import { ACTIONS } from './domain/taxonomy.js';
import { authenticate, createVerifier, requireScope, type TokenRejected } from './http/auth.js';
import { errorHandler } from './http/errors.js';
import { healthEndpoints } from './http/health.js';
import { rateLimit } from './http/rate-limit.js';
import { readRoutes } from './http/read-routes.js';
import { requestEvent } from './http/request-event.js';
import { writeRoutes } from './http/write-routes.js';
import type { AuditMetrics } from './metrics.js';
import { publicKeyEndpoint, sealRoutes } from './seal/routes.js';
import type { SelfAudit } from './self-audit.js';
import { CursorCodec } from './store/cursor.js';
import type { EventStore } from './store/events.js';
import type { StreamHub } from './stream/hub.js';
import type { Notifier } from './stream/notifier.js';
import { streamRoute } from './stream/route.js';

export interface AppDeps {
  config: AuditConfig;
  db: Knex;
  embedded: boolean;
  store: EventStore;
  notifier: Notifier;
  hub: StreamHub;
  selfAudit: SelfAudit;
  metrics: AuditMetrics;
  logger: Logger;
  /** False until migrations and partitions are in place: the API answers 503 meanwhile. */
  isReady: () => boolean;
}

export interface AuditApp {
  app: Koa;
  /** Open SSE responses, ended at shutdown. */
  streams: Set<ServerResponse>;
}

export function createApp(deps: AppDeps): AuditApp {
  const { config, metrics } = deps;
  const app = new Koa({ proxy: config.trustProxy });
  const streams = new Set<ServerResponse>();
  const options = { ipHmacKey: config.ipHmacKey, retentionDays: config.retentionDays };

  const onRejected = (ctx: Context, rejection: TokenRejected) => {
    metrics.authFailures.add(1, { reason: rejection.reason });
    deps.logger.warn('token rejected', { reason: rejection.reason, path: ctx.path });
    const event = requestEvent(ctx, { action: 'auth.token.rejected', status: 'failure', actor: { type: 'system', id: 'audit-api' }, metadata: {} }, options);
    deps.selfAudit.record(config.systemTenant, {
      ...event,
      id: uuidv7(),
      metadata: {
        reason: rejection.reason,
        path: ctx.path.slice(0, 256),
        method: ctx.method,
        ...(rejection.claimedTenantId ? { claimed_tenant_id: rejection.claimedTenantId } : {}),
      },
    });
  };
  const scope = (name: string) => requireScope(name, () => metrics.authFailures.add(1, { reason: 'insufficient_scope' }));
  const requireWrite = scope('activity:write');
  const requireRead = scope('activity:read');

  const api = new Router({ prefix: '/api' });
  api.use(async (_ctx, next) => {
    if (!deps.isReady()) throw new ApiError(503, 'database_unavailable', 'the audit database is not ready yet; retry later');
    await next();
  });
  const usedPrevious = (key: 'jwt_secret' | 'cursor_key') => () => metrics.previousKeyUses.add(1, { key });
  api.use(authenticate(createVerifier(config.auth, usedPrevious('jwt_secret')), onRejected));
  api.use(rateLimit(config.rateLimitPerSecond, config.rateLimitBurst));
  api.get('/v1/actions', (ctx) => {
    ctx.body = { data: Object.entries(ACTIONS).map(([action, { description, metadata }]) => ({ action, description, metadata_schema: metadata })) };
  });

  const write = writeRoutes({ store: deps.store, notifier: deps.notifier, metrics, logger: deps.logger, options }, requireWrite);
  const read = readRoutes({ store: deps.store, cursors: new CursorCodec(config.cursorKey, config.previousCursorKey, usedPrevious('cursor_key')), notifier: deps.notifier, options }, requireRead);
  const stream = streamRoute({ hub: deps.hub, metrics, heartbeatMs: config.sseHeartbeatMs, maxQueued: config.sseMaxQueuedEvents, open: streams }, requireRead);
  const seal = sealRoutes({ db: deps.db, sealing: config.sealing, metrics }, requireRead);
  // The stream's path is more specific than the list's; register it first.
  for (const router of [stream, seal, write, read]) api.use(router.routes(), router.allowedMethods());

  app.use(errorHandler(deps.logger));
  app.use(healthEndpoints({ db: deps.db, notifier: deps.notifier, embedded: deps.embedded, isReady: deps.isReady }));
  app.use(publicKeyEndpoint(config.sealing));
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true, notImplemented: () => new ApiError(501, 'not_implemented', 'method not implemented'), methodNotAllowed: () => new ApiError(405, 'method_not_allowed', 'method not allowed on this path') }));
  return { app, streams };
}
