// GET /api/v1/activity (filtered, cursor-paginated, newest first) and GET /api/v1/activity/export
// (the same filters streamed as JSON Lines or CSV; the export is itself recorded before any row leaves).
import { Readable } from 'node:stream';
import Router from '@koa/router';
import { uuidv7 } from '@lookout/agent';
import type { Context, Middleware } from 'koa';
import type { ActivityEvent, NewEvent } from '../domain/activity-event.js';
import { ApiError } from '../domain/errors.js';
import { describeFilters, parseFilters, parseLimit, single, type ActivityFilters } from '../domain/filters.js';
import type { CursorCodec } from '../store/cursor.js';
import type { EventStore } from '../store/events.js';
import type { Notifier } from '../stream/notifier.js';
import type { Principal } from './auth.js';
import { publicEvent } from './public-event.js';
import { requestEvent, type RequestEventOptions } from './request-event.js';

export interface ReadDeps {
  store: EventStore;
  cursors: CursorCodec;
  notifier: Notifier;
  options: RequestEventOptions;
}

const EXPORT_PAGE = 1000;

export function readRoutes(deps: ReadDeps, requireRead: Middleware): Router {
  const router = new Router({ prefix: '/v1/activity' });

  router.get('/', requireRead, async (ctx) => {
    const { tenantId } = ctx.state.principal as Principal;
    const filters = parseFilters(ctx.query, ['limit', 'cursor']);
    const limit = parseLimit(ctx.query);
    const scope = describeFilters(filters);
    const cursor = single(ctx.query, 'cursor');
    const after = cursor !== undefined ? deps.cursors.decode(cursor, tenantId, scope) : undefined;
    const page = await deps.store.page(tenantId, filters, limit, after);
    ctx.body = {
      data: page.events.map(publicEvent),
      next_cursor: page.next ? deps.cursors.encode(page.next, tenantId, scope) : null,
    };
  });

  router.get('/export', requireRead, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const filters = parseFilters(ctx.query, ['format']);
    const format = single(ctx.query, 'format') ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'csv') throw new ApiError(400, 'invalid_filter', '"format" must be jsonl or csv', 'format');
    await recordExport(ctx, deps, principal, format, filters);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    ctx.attachment(`activity-${principal.tenantId}-${stamp}.${format}`);
    ctx.type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = Readable.from(exportLines(deps.store, principal.tenantId, filters, format));
  });

  return router;
}

/** The export is audited, synchronously: if it cannot be recorded, it does not happen. */
async function recordExport(ctx: Context, deps: ReadDeps, principal: Principal, format: string, filters: ActivityFilters): Promise<void> {
  const event: NewEvent = {
    ...requestEvent(ctx, { action: 'activity.exported', status: 'success', actor: { type: 'user', id: principal.sub }, metadata: {} }, deps.options),
    id: uuidv7(),
    metadata: { format, filters: describeFilters(filters) },
  };
  await deps.store.insert(principal.tenantId, [event]);
  deps.notifier.committed();
}

async function* exportLines(store: EventStore, tenantId: string, filters: ActivityFilters, format: 'jsonl' | 'csv'): AsyncGenerator<string> {
  if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
  let after;
  do {
    const page = await store.page(tenantId, filters, EXPORT_PAGE, after);
    let chunk = '';
    for (const event of page.events) chunk += format === 'csv' ? csvLine(publicEvent(event)) : `${JSON.stringify(publicEvent(event))}\n`;
    if (chunk) yield chunk;
    after = page.next ?? undefined;
  } while (after);
}

const CSV_COLUMNS = ['id', 'occurred_at', 'received_at', 'action', 'status', 'actor_type', 'actor_id', 'actor_display', 'object_type', 'object_id', 'request_id', 'trace_id', 'span_id', 'ip_hash', 'user_agent', 'metadata'];

function csvLine(e: ActivityEvent): string {
  const values = [e.id, e.occurred_at, e.received_at, e.action, e.status, e.actor.type, e.actor.id, e.actor.display, e.object?.type, e.object?.id, e.request_id, e.trace_id, e.span_id, e.ip_hash, e.user_agent, JSON.stringify(e.metadata)];
  return `${values.map(csvCell).join(',')}\r\n`;
}

/** RFC 4180 quoting, and a leading apostrophe on cells a spreadsheet would run as a formula. */
function csvCell(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  let cell = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  if (/[",\r\n]/.test(cell)) cell = `"${cell.replace(/"/g, '""')}"`;
  return cell;
}
