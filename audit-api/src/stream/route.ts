// GET /api/v1/activity/stream: Server-Sent Events of the tenant's new events, with the list filters.
// Each event's SSE id is its insertion sequence; a client reconnecting with Last-Event-ID first gets what
// it missed, read from the table, then the live feed. A subscriber that cannot keep up is disconnected
// once its queue is full (it resumes with Last-Event-ID), so no buffer grows without bound.
import type { ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { StoredEvent } from '../domain/activity-event.js';
import { ApiError } from '../domain/errors.js';
import { parseFilters } from '../domain/filters.js';
import type { Principal } from '../http/auth.js';
import type { AuditMetrics } from '../metrics.js';
import type { EventStore } from '../store/events.js';
import { LIVE_WINDOW_MS } from './committed.js';
import type { StreamHub } from './hub.js';
import { SseConnection } from './sse-connection.js';

export interface StreamDeps {
  store: EventStore;
  hub: StreamHub;
  metrics: AuditMetrics;
  heartbeatMs: number;
  maxQueued: number;
  /** Open streams, so shutdown can end them. */
  open: Set<ServerResponse>;
}

const REPLAY_PAGE = 500;
// The hub's live window, doubled: received_at is the database's clock, Date.now() ours.
const REPLAYED_KEPT_MS = 2 * LIVE_WINDOW_MS;

export function streamRoute(deps: StreamDeps, requireRead: Middleware): Router {
  const router = new Router();
  router.get('/v1/activity/stream', requireRead, async (ctx) => {
    const { tenantId } = ctx.state.principal as Principal;
    const filters = parseFilters(ctx.query);
    const lastEventId = ctx.get('last-event-id');
    if (lastEventId && !/^\d{1,19}$/.test(lastEventId)) throw new ApiError(400, 'invalid_field', 'Last-Event-ID must be an id this stream sent', 'last-event-id');

    // Subscribed before the response starts: whatever is committed once the client sees the stream open
    // reaches it. Events arriving before the headers, or during a replay, are held, then sent in order.
    let connection!: SseConnection;
    let held: StoredEvent[] | undefined = [];
    // Replayed events the hub may still deliver live (it reads recent commits on its own schedule):
    // each is skipped once when it comes. Only those received within the hub's window are kept.
    const replayed = new Map<string, number>();
    const live = (event: StoredEvent) => {
      if (replayed.delete(event.id)) return;
      connection.send(event);
    };
    const unsubscribe = await deps.hub.subscribe({
      tenantId,
      filters,
      deliver: (event) => (held ? held.push(event) : live(event)),
      // Held during the replay, then queued behind a client that reads slowly.
      queued: () => (held?.length ?? 0) + (connection?.queued ?? 0),
    });
    const res = ctx.res;
    if (res.destroyed) {
      unsubscribe();
      return;
    }
    ctx.respond = false;
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    connection = new SseConnection(res, deps.maxQueued, () => deps.metrics.streamDisconnects.add(1, { reason: 'slow_consumer' }));
    deps.open.add(res);
    deps.metrics.streamSubscribers.add(1);
    const heartbeat = setInterval(() => {
      connection.comment('heartbeat');
      const expired = Date.now() - REPLAYED_KEPT_MS;
      for (const [id, receivedAt] of replayed) if (receivedAt < expired) replayed.delete(id);
    }, deps.heartbeatMs);
    res.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      deps.open.delete(res);
      deps.metrics.streamSubscribers.add(-1);
    });

    if (lastEventId) {
      let after = lastEventId;
      try {
        for (;;) {
          const page = await deps.store.replay(tenantId, filters, after, REPLAY_PAGE);
          const recent = Date.now() - REPLAYED_KEPT_MS;
          for (const event of page) {
            const receivedAt = Date.parse(event.received_at);
            if (receivedAt >= recent) replayed.set(event.id, receivedAt);
            connection.send(event);
          }
          if (page.length < REPLAY_PAGE || connection.closed) break;
          after = page.at(-1)!.seq;
        }
      } catch {
        // The database went away mid-replay: end the stream; the client retries with its Last-Event-ID.
        res.destroy();
        return;
      }
    }
    const waiting = held;
    held = undefined;
    for (const event of waiting) live(event);
  });
  return router;
}
