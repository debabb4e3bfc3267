// Query filters shared by list, stream and export: parsed once from the query string (400 naming the
// parameter on anything unknown or malformed), then applied as SQL (store) or as a predicate (stream).
import { EVENT_STATUSES, type EventStatus } from '@lookout/agent';
import { ApiError } from './errors.js';
import { ACTION_PREFIXES, isKnownAction } from './taxonomy.js';

export interface ActivityFilters {
  from?: Date;
  to?: Date;
  /** Exact action, or a prefix ending in "." for `auth.*`. */
  action?: { exact: string } | { prefix: string };
  actor_id?: string;
  object_type?: string;
  object_id?: string;
  request_id?: string;
  trace_id?: string;
  status?: EventStatus;
}

const TEXT_FILTERS = ['actor_id', 'object_type', 'object_id', 'request_id'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

type Query = Record<string, string | string[] | undefined>;

/** Parses the filters; `extra` names the other parameters the route accepts (limit, cursor, format). */
export function parseFilters(query: Query, extra: readonly string[] = []): ActivityFilters {
  for (const key of Object.keys(query)) {
    if (!FILTER_NAMES.has(key) && !extra.includes(key)) {
      throw new ApiError(400, 'unknown_filter', `unknown query parameter "${key}"; filters are ${[...FILTER_NAMES].join(', ')}`, key);
    }
  }
  const filters: ActivityFilters = {};
  const from = single(query, 'from');
  const to = single(query, 'to');
  if (from !== undefined) filters.from = timestamp(from, 'from');
  if (to !== undefined) filters.to = timestamp(to, 'to');
  if (filters.from && filters.to && filters.from >= filters.to) {
    throw new ApiError(400, 'invalid_filter', '"from" must be before "to"', 'from');
  }
  const action = single(query, 'action');
  if (action !== undefined) {
    if (action.endsWith('.*')) {
      const prefix = action.slice(0, -2);
      if (!ACTION_PREFIXES.has(prefix)) throw new ApiError(400, 'invalid_filter', `no action starts with "${prefix}."`, 'action');
      filters.action = { prefix: `${prefix}.` };
    } else {
      if (!isKnownAction(action)) throw new ApiError(400, 'unknown_action', `unknown action "${action}"`, 'action');
      filters.action = { exact: action };
    }
  }
  for (const name of TEXT_FILTERS) {
    const value = single(query, name);
    if (value === undefined) continue;
    if (value.length === 0 || value.length > 256) throw new ApiError(400, 'invalid_filter', `"${name}" must be 1 to 256 characters`, name);
    filters[name] = value;
  }
  const traceId = single(query, 'trace_id');
  if (traceId !== undefined) {
    if (!/^[0-9a-f]{32}$/.test(traceId)) throw new ApiError(400, 'invalid_filter', '"trace_id" must be 32 lower-case hex digits', 'trace_id');
    filters.trace_id = traceId;
  }
  const status = single(query, 'status');
  if (status !== undefined) {
    if (!isEventStatus(status)) throw new ApiError(400, 'invalid_filter', `"status" must be ${EVENT_STATUSES.join(' or ')}`, 'status');
    filters.status = status;
  }
  return filters;
}

const FILTER_NAMES = new Set(['from', 'to', 'action', 'trace_id', 'status', ...TEXT_FILTERS]);

/** The page size: default 50, at most 500. */
export function parseLimit(query: Query): number {
  const raw = single(query, 'limit');
  if (raw === undefined) return 50;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > 500) throw new ApiError(400, 'invalid_filter', '"limit" must be an integer from 1 to 500', 'limit');
  return limit;
}

export function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw new ApiError(400, 'invalid_filter', `"${name}" may be given once`, name);
  return value;
}

function timestamp(value: string, field: string): Date {
  const date = new Date(value);
  if (!RFC3339.test(value) || Number.isNaN(date.getTime())) {
    throw new ApiError(400, 'invalid_filter', `"${field}" must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z`, field);
  }
  return date;
}

/** A stable text form of the filters: bound into cursors, recorded in the export's audit event. */
export function describeFilters(filters: ActivityFilters): Record<string, string> {
  const out: Record<string, string> = {};
  if (filters.from) out.from = filters.from.toISOString();
  if (filters.to) out.to = filters.to.toISOString();
  if (filters.action) out.action = 'exact' in filters.action ? filters.action.exact : `${filters.action.prefix}*`;
  for (const name of [...TEXT_FILTERS, 'trace_id', 'status'] as const) {
    const value = filters[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The fields of a stored event the stream's predicate looks at. */
export interface FilterableEvent {
  occurred_at: string;
  action: string;
  actor: { id: string };
  object: { type: string; id: string } | null;
  request_id: string | null;
  trace_id: string | null;
  status: string;
}

/** The same filters as a predicate, for events the stream hub fans out. */
export function matches(filters: ActivityFilters, event: FilterableEvent): boolean {
  const at = Date.parse(event.occurred_at);
  if (filters.from && at < filters.from.getTime()) return false;
  if (filters.to && at >= filters.to.getTime()) return false;
  if (filters.action) {
    if ('exact' in filters.action ? event.action !== filters.action.exact : !event.action.startsWith(filters.action.prefix)) return false;
  }
  if (filters.actor_id !== undefined && event.actor.id !== filters.actor_id) return false;
  if (filters.object_type !== undefined && event.object?.type !== filters.object_type) return false;
  if (filters.object_id !== undefined && event.object?.id !== filters.object_id) return false;
  if (filters.request_id !== undefined && event.request_id !== filters.request_id) return false;
  if (filters.trace_id !== undefined && event.trace_id !== filters.trace_id) return false;
  if (filters.status !== undefined && event.status !== filters.status) return false;
  return true;
}

function isEventStatus(value: string): value is EventStatus {
  return (EVENT_STATUSES as readonly string[]).includes(value);
}
