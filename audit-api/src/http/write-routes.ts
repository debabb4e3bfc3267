// POST /api/v1/activity and /api/v1/activity/batch: validate, scrub, store in one transaction, answer
// 201 only after commit, then wake the stream. A batch is all or nothing: one bad event fails it with
// the event's index in the field path, and nothing of it is stored.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import { MAX_BATCH_BODY_BYTES, MAX_EVENT_BODY_BYTES } from '@lookout/agent';
import type { Context, Middleware } from 'koa';
import type { Logger } from 'winston';
import type { NewEvent } from '../domain/activity-event.js';
import { ApiError } from '../domain/errors.js';
import { parseBatch, parseEvent } from '../domain/event.js';
import type { AuditMetrics } from '../metrics.js';
import type { EventStore } from '../store/events.js';
import type { Notifier } from '../stream/notifier.js';
import { toApiError } from './errors.js';
import { publicEvent } from './public-event.js';
import type { Principal } from './auth.js';
import { requestEvent, type RequestEventOptions } from './request-event.js';

export interface WriteDeps {
  store: EventStore;
  notifier: Notifier;
  metrics: AuditMetrics;
  logger: Logger;
  options: RequestEventOptions;
}

export function writeRoutes(deps: WriteDeps, requireWrite: Middleware): Router {
  const router = new Router({ prefix: '/v1/activity' });
  const single = bodyParser({ enableTypes: ['json'], jsonLimit: MAX_EVENT_BODY_BYTES, encoding: 'utf-8' });
  const batch = bodyParser({ enableTypes: ['json'], jsonLimit: MAX_BATCH_BODY_BYTES, encoding: 'utf-8' });

  router.post('/', requireWrite, measured(deps), requireJson, single, async (ctx) => {
    const event = requestEvent(ctx, parseEvent(ctx.request.body), deps.options);
    const [stored] = await write(ctx, deps, [event]);
    deps.logger.info('activity recorded', { activity_event_id: stored!.id, action: stored!.action });
    answer(ctx, () => ({ data: publicEvent(stored!) }));
  });

  router.post('/batch', requireWrite, measured(deps), requireJson, batch, async (ctx) => {
    const inputs = parseBatch(ctx.request.body);
    const events = inputs.map((input, i) => requestEvent(ctx, input, deps.options, `events[${i}].`));
    const stored = await write(ctx, deps, events);
    // One line per request, not per event: a full batch would otherwise log a thousand lines.
    deps.logger.info('activity batch recorded', { activity_event_count: stored.length, first_activity_event_id: stored[0]?.id, last_activity_event_id: stored.at(-1)?.id });
    answer(ctx, () => ({ data: stored.map(publicEvent) }));
  });

  return router;
}

async function write(ctx: Context, deps: WriteDeps, events: NewEvent[]) {
  const tenantId = (ctx.state.principal as Principal).tenantId;
  deps.metrics.batchSize.record(events.length);
  const { events: stored, inserted } = await deps.store.insert(tenantId, events);
  if (inserted.size > 0) deps.notifier.committed();
  for (const event of stored) {
    if (inserted.has(event.id)) deps.metrics.eventsWritten.add(1, { action: event.action, status: event.status });
  }
  return stored;
}

/**
 * 201 with the stored events, or with no body when the client asked for none with `Prefer: return=minimal`
 * (RFC 7240; PostgREST answers it the same way). The agent's audit client asks: it reads nothing from a 2xx
 * answer, and serialising a full batch's 1,000 stored events was about a tenth of the event loop at ingest
 * (docs/benchmarks.md).
 */
function answer(ctx: Context, body: () => { data: unknown }): void {
  ctx.status = 201;
  ctx.vary('Prefer');
  if (!prefersMinimal(ctx.get('prefer'))) {
    ctx.body = body();
    return;
  }
  ctx.set('Preference-Applied', 'return=minimal');
  ctx.body = '';
  ctx.remove('Content-Type');
}

/** Whether a Prefer header (comma-separated preferences, each `token[=value]` with optional `;` parameters) holds return=minimal. */
function prefersMinimal(header: string): boolean {
  return header.split(',').some((preference) => {
    const [name, value] = preference.split(';')[0]!.split('=').map((part) => part.trim().toLowerCase());
    return name === 'return' && value?.replace(/^"(.*)"$/, '$1') === 'minimal';
  });
}

/** Write latency for every write request, and the failures by reason. */
function measured(deps: WriteDeps): Middleware {
  return async (_ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } catch (err) {
      const error = toApiError(err);
      deps.metrics.writeFailures.add(1, { reason: failureReason(error) });
      throw err;
    } finally {
      deps.metrics.writeDuration.record((performance.now() - start) / 1000);
    }
  };
}

function failureReason(error: ApiError): string {
  if (error.status === 413) return 'too_large';
  if (error.status === 429) return 'rate_limited';
  if (error.status === 503) return 'database_unavailable';
  if (error.status >= 500) return 'error';
  return 'invalid';
}

const requireJson: Middleware = async (ctx, next) => {
  if (!ctx.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send JSON with Content-Type: application/json', 'content-type');
  await next();
};
