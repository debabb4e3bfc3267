// GET /api/v1/activity/stream: Server-Sent Events of the tenant's new events, with the list filters.
// Each event's SSE id is the exact stream position after it (position.ts): which transactions the client
// has been sent, as a snapshot does. A client reconnecting with Last-Event-ID first gets everything that
// position does not cover, read from the table (a transaction that took a lower sequence but committed
// after the disconnect included), then the live feed, with nothing sent twice. A subscriber that cannot
// keep up is disconnected once its queue is full (it resumes with Last-Event-ID), so no buffer grows without bound.
import type { ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { ApiError } from '../domain/errors.js';
import { parseFilters } from '../domain/filters.js';
import type { Principal } from '../http/auth.js';
import type { AuditMetrics } from '../metrics.js';
import type { LivePass, StreamHub } from './hub.js';
import { after, covers, decode, encode, equal, union, type Position } from './position.js';
import { SseConnection } from './sse-connection.js';

export interface StreamDeps {
  hub: StreamHub;
  metrics: AuditMetrics;
  heartbeatMs: number;
  maxQueued: number;
  /** Open streams, so shutdown can end them. */
  open: Set<ServerResponse>;
}

const REPLAY_PAGE = 500;

export function streamRoute(deps: StreamDeps, requireRead: Middleware): Router {
  const router = new Router();
  router.get('/v1/activity/stream', requireRead, async (ctx) => {
    const { tenantId } = ctx.state.principal as Principal;
    const filters = parseFilters(ctx.query);
    const lastEventId = ctx.get('last-event-id');
    const resumeFrom = lastEventId ? decode(lastEventId) : undefined;
    if (lastEventId && !resumeFrom) throw new ApiError(400, 'invalid_field', 'Last-Event-ID must be an id this stream sent', 'last-event-id');

    // Subscribed before the response starts: whatever is committed once the client sees the stream open
    // reaches it. Passes arriving before the headers, or during a replay, are held, then sent in order.
    let connection!: SseConnection;
    let held: LivePass[] | undefined = [];
    let heldEvents = 0;
    // What this client has been sent; undefined until a replay or the first live pass sets it.
    let position: Position | undefined;
    const live = (pass: LivePass) => {
      if (!position || equal(position, pass.before)) {
        // At the hub's own position (every stream not just resumed): the hub's ids are this client's.
        for (const { event, id } of pass.events) connection.send(event, id);
        position = pass.snapshot;
        return;
      }
      // Just resumed, so ahead of the hub in places: skip what the replay sent, and compute the ids from
      // this client's position, in the same pass order. Once a pass's snapshot covers everything the
      // replay sent, the two positions meet again.
      const from = position;
      const events = pass.events.filter((e) => !covers(from, e.tx, e.seq));
      if (from.partial) events.sort((a, b) => Number(b.tx === from.partial!.tx) - Number(a.tx === from.partial!.tx));
      let now = from;
      for (const e of events) {
        now = after(from, pass.snapshot, e.tx, e.seq);
        connection.send(e.event, encode(now));
      }
      position = union(now, pass.snapshot);
    };
    const unsubscribe = await deps.hub.subscribe({
      tenantId,
      filters,
      deliver: (pass) => {
        if (!held) return live(pass);
        held.push(pass);
        heldEvents += pass.events.length;
      },
      // Held during the replay, then queued behind a client that reads slowly.
      queued: () => (held ? heldEvents : 0) + (connection?.queued ?? 0),
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
    const heartbeat = setInterval(() => connection.comment('heartbeat'), deps.heartbeatMs);
    res.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      deps.open.delete(res);
      deps.metrics.streamSubscribers.add(-1);
    });

    if (resumeFrom) {
      try {
        // Each page is a pass in its own snapshot from the position the previous one reached.
        let from = 'position' in resumeFrom ? resumeFrom.position : await deps.hub.reader.legacyPosition(tenantId, resumeFrom.legacySeq);
        for (;;) {
          const { snapshot, events } = await deps.hub.reader.replay(tenantId, filters, from, REPLAY_PAGE);
          let now = from;
          for (const e of events) {
            now = after(from, snapshot, e.tx, e.seq);
            connection.send(e.event, encode(now));
          }
          if (events.length < REPLAY_PAGE) {
            from = union(now, snapshot);
            break;
          }
          from = now;
          if (connection.closed) break;
        }
        position = from;
      } catch {
        // The database went away mid-replay: end the stream; the client retries with its Last-Event-ID.
        res.destroy();
        return;
      }
    }
    const waiting = held;
    held = undefined;
    for (const pass of waiting) live(pass);
  });
  return router;
}
