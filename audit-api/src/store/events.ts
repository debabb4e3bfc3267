// The activity_events repository: idempotent batch insert, keyset pages and replay by insertion order.
import type { Knex } from 'knex';
import type { EventStatus } from '@lookout/agent';
import type { NewEvent, StoredEvent } from '../domain/activity-event.js';
import type { ActivityFilters } from '../domain/filters.js';
import type { CursorPosition } from './cursor.js';
import { connectionOf, copyField, copyIn } from './copy.js';
import { Gate } from './gate.js';
import type { Partitions } from './partitions.js';

/** A row as COLUMNS selects it. */
export interface EventRow {
  id: string;
  tenant_id: string;
  occurred_at: string;
  received_at: string;
  seq: string;
  action: string;
  status: EventStatus;
  actor_type: string;
  actor_id: string;
  actor_display: string | null;
  object_type: string | null;
  object_id: string | null;
  request_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  ip_hash: string | null;
  user_agent: string | null;
  metadata: Record<string, unknown>;
}

// Timestamps as text to the microsecond: a JavaScript Date would drop the last three digits, and the
// keyset cursor must compare exactly what is stored.
const UTC_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
export const COLUMNS = `id, tenant_id,
  to_char(occurred_at at time zone 'UTC', ${UTC_US}) as occurred_at,
  to_char(received_at at time zone 'UTC', ${UTC_US}) as received_at,
  seq, action, status, actor_type, actor_id, actor_display, object_type, object_id,
  request_id, trace_id, span_id, ip_hash, user_agent, metadata`;

const INSERT_COLUMNS = [
  ['id', 'uuid'],
  ['occurred_at', 'timestamptz'],
  ['action', 'text'],
  ['status', 'text'],
  ['actor_type', 'text'],
  ['actor_id', 'text'],
  ['actor_display', 'text'],
  ['object_type', 'text'],
  ['object_id', 'text'],
  ['request_id', 'text'],
  ['trace_id', 'text'],
  ['span_id', 'text'],
  ['ip_hash', 'text'],
  ['user_agent', 'text'],
  ['metadata', 'jsonb'],
] as const;

// The fast path: the batch as COPY text into the table (PostgreSQL's multi-row insert, as raw COPY does), with
// the sequence values taken first so the response can carry them. COPY cannot skip a row that is already
// stored, so a batch that meets one (a retry, or a race with a concurrent request carrying the same ids) fails
// with a unique violation and goes again through INSERT … ON CONFLICT DO NOTHING, which returns what is stored.
// The json_to_recordset insert this replaced, with ON CONFLICT on every row, cost the database about a fifth
// more per event (docs/benchmarks.md).
const COPY_TARGET = `activity_events (tenant_id, ${INSERT_COLUMNS.map(([c]) => c).join(', ')}, seq)`;
const SEQUENCE_SQL = `select to_char(now() at time zone 'UTC', ${UTC_US}) as received_at,
  array(select nextval('activity_events_seq') from generate_series(1, ?))::text[] as seqs`;

// The slow path: one multi-row insert from one JSON parameter (json_to_recordset), however many rows: no
// parameter limit, one plan, and ON CONFLICT makes a retry of the same id harmless. One JSON.stringify of the
// batch replaced fifteen array parameters, which pg quoted element by element.
const INSERT_SQL = `
  insert into activity_events (tenant_id, ${INSERT_COLUMNS.map(([c]) => c).join(', ')})
  select ?, * from json_to_recordset(?::json) as e(${INSERT_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')})
  on conflict do nothing
  returning id, seq,
    to_char(occurred_at at time zone 'UTC', ${UTC_US}) as occurred_at,
    to_char(received_at at time zone 'UTC', ${UTC_US}) as received_at`;

/** What the insert returns: the rest of a fresh row is what was sent (a full RETURNING costs ~15% of a batch). */
interface InsertedRow {
  id: string;
  seq: string;
  occurred_at: string;
  received_at: string;
}

export class EventStore {
  constructor(
    private readonly db: Knex,
    private readonly partitions: Partitions,
    /**
     * copy: COPY batches in (PostgreSQL; embedded PGlite's socket server does not speak COPY: INSERT only).
     * writers: ingest transactions at once; more wait here. Concurrent COPYs into the same partition contend
     * for the same index pages and the relation's extension lock: on the 2-core bench machine 2 writers
     * stored 5–10% more per second than 4, and 1 about 20% less (docs/benchmarks.md).
     */
    options: { copy: boolean; writers: number } = { copy: true, writers: 2 },
  ) {
    this.copy = options.copy;
    this.writers = new Gate(options.writers);
  }

  private readonly copy: boolean;
  private readonly writers: Gate;

  /**
   * Stores a batch in one transaction and returns every event as stored, in the order given. A retried
   * event (same id, and the same occurred_at when the client gave one) returns the stored event and
   * inserts nothing.
   */
  async insert(tenantId: string, events: NewEvent[]): Promise<{ events: StoredEvent[]; inserted: Set<string> }> {
    await this.partitions.ensureFor(events.map((e) => e.occurred_at));
    const attempt = (how: 'copy' | 'insert') => this.writers.run(() => this.db.transaction((trx) => this.store(trx, tenantId, events, how)));
    if (!this.copy) return attempt('insert');
    try {
      return await attempt('copy');
    } catch (err) {
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
      return attempt('insert');
    }
  }

  private async store(trx: Knex.Transaction, tenantId: string, events: NewEvent[], how: 'copy' | 'insert'): Promise<{ events: StoredEvent[]; inserted: Set<string> }> {
    // Only events whose occurred_at the server defaulted need a lookup before the insert; every other
    // retry meets its first copy in the same partition, through the primary key. The lookup probes every
    // partition, so skipping it where it cannot matter halves the cost of a batch.
    const lookup = events.filter((e) => e.idWithoutTime).map((e) => e.id);
    const byId = new Map((lookup.length === 0 ? [] : await storedRows(trx, tenantId, lookup)).map((row) => [row.id, toEvent(row)]));
    const fresh = events.filter((e) => !byId.has(e.id));
    const inserted = new Set<string>();
    if (fresh.length > 0 && how === 'copy') {
      const { rows } = await trx.raw<{ rows: { received_at: string; seqs: string[] }[] }>(SEQUENCE_SQL, [fresh.length]);
      const { received_at, seqs } = rows[0]!;
      await copyIn(await connectionOf(trx), COPY_TARGET, copyText(tenantId, fresh, seqs));
      fresh.forEach((e, i) => {
        inserted.add(e.id);
        byId.set(e.id, freshEvent(tenantId, e, { id: e.id, seq: seqs[i]!, occurred_at: microseconds(e.occurred_at), received_at }));
      });
    } else if (fresh.length > 0) {
      const result = await trx.raw<{ rows: InsertedRow[] }>(INSERT_SQL, [tenantId, recordsJson(fresh)]);
      const sent = new Map(fresh.map((e) => [e.id, e]));
      for (const row of result.rows) {
        inserted.add(row.id);
        byId.set(row.id, freshEvent(tenantId, sent.get(row.id)!, row));
      }
      // A retry that met its first copy in ON CONFLICT, or lost a race with a concurrent request
      // carrying the same ids: read what is stored.
      const missing = fresh.filter((e) => !byId.has(e.id)).map((e) => e.id);
      if (missing.length > 0) {
        for (const row of await storedRows(trx, tenantId, missing)) byId.set(row.id, toEvent(row));
      }
    }
    return { events: events.map((e) => byId.get(e.id)!), inserted };
  }

  /** One page, newest first, strictly after `after`. `next` is set when more rows follow. */
  async page(tenantId: string, filters: ActivityFilters, limit: number, after?: CursorPosition): Promise<{ events: StoredEvent[]; next: CursorPosition | null }> {
    const query = this.db
      .select(this.db.raw(COLUMNS))
      .from('activity_events')
      .where('tenant_id', tenantId)
      .orderBy([
        { column: 'activity_events.occurred_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit + 1);
    applyFilters(query, filters);
    if (after) query.whereRaw('(activity_events.occurred_at, id) < (?::timestamptz, ?::uuid)', [after.occurredAt, after.id]);
    const rows = (await query) as EventRow[];
    const more = rows.length > limit;
    const events = rows.slice(0, limit).map(toEvent);
    const last = events.at(-1);
    return { events, next: more && last ? { occurredAt: last.occurred_at, id: last.id } : null };
  }
}

export function applyFilters(query: Knex.QueryBuilder, filters: ActivityFilters): void {
  if (filters.from) query.where('activity_events.occurred_at', '>=', filters.from);
  if (filters.to) query.where('activity_events.occurred_at', '<', filters.to);
  if (filters.action) {
    if ('exact' in filters.action) query.where('action', filters.action.exact);
    // LIKE's own wildcards appear in action names (auth.service_account): escape them.
    else query.whereRaw(`action like ? escape '\\'`, [`${filters.action.prefix.replace(/[\\%_]/g, '\\$&')}%`]);
  }
  if (filters.actor_id !== undefined) query.where('actor_id', filters.actor_id);
  if (filters.object_type !== undefined) query.where('object_type', filters.object_type);
  if (filters.object_id !== undefined) query.where('object_id', filters.object_id);
  if (filters.request_id !== undefined) query.where('request_id', filters.request_id);
  if (filters.trace_id !== undefined) query.where('trace_id', filters.trace_id);
  if (filters.status !== undefined) query.where('status', filters.status);
}

const UNIQUE_VIOLATION = '23505';

/** The tenant's stored events with these ids, in any month (a retry's first copy, or a concurrent request's). */
async function storedRows(trx: Knex.Transaction, tenantId: string, ids: string[]): Promise<EventRow[]> {
  return (await trx.raw<{ rows: EventRow[] }>(`select ${COLUMNS} from activity_events where tenant_id = ? and id = any(?::uuid[])`, [tenantId, ids])).rows;
}

/** The batch as COPY text lines, in COPY_TARGET's column order. */
function copyText(tenantId: string, events: NewEvent[], seqs: string[]): string {
  const tenant = copyField(tenantId);
  let text = '';
  events.forEach((e, i) => {
    text += `${tenant}\t${e.id}\t${e.occurred_at.toISOString()}\t${copyField(e.action)}\t${e.status}\t${copyField(e.actor.type)}\t${copyField(e.actor.id)}\t${copyField(e.actor.display)}\t${copyField(e.object?.type)}\t${copyField(e.object?.id)}\t${copyField(e.request_id)}\t${copyField(e.trace_id)}\t${copyField(e.span_id)}\t${copyField(e.ip_hash)}\t${copyField(e.user_agent)}\t${copyField(JSON.stringify(e.metadata))}\t${seqs[i]}\n`;
  });
  return text;
}

/** A Date as the stored timestamptz reads back through UTC_US (a Date holds milliseconds). */
function microseconds(date: Date): string {
  return date.toISOString().replace('Z', '000Z');
}

/** The batch as the JSON json_to_recordset reads (absent keys are nulls). */
function recordsJson(events: NewEvent[]): string {
  return JSON.stringify(
    events.map((e) => ({
      id: e.id,
      occurred_at: e.occurred_at.toISOString(),
      action: e.action,
      status: e.status,
      actor_type: e.actor.type,
      actor_id: e.actor.id,
      actor_display: e.actor.display,
      object_type: e.object?.type,
      object_id: e.object?.id,
      request_id: e.request_id,
      trace_id: e.trace_id,
      span_id: e.span_id,
      ip_hash: e.ip_hash,
      user_agent: e.user_agent,
      metadata: e.metadata,
    })),
  );
}

function freshEvent(tenantId: string, e: NewEvent, row: InsertedRow): StoredEvent {
  return {
    id: row.id,
    tenant_id: tenantId,
    occurred_at: row.occurred_at,
    received_at: row.received_at,
    seq: row.seq,
    action: e.action,
    status: e.status,
    actor: { type: e.actor.type, id: e.actor.id, display: e.actor.display ?? null },
    object: e.object ? { type: e.object.type, id: e.object.id } : null,
    request_id: e.request_id ?? null,
    trace_id: e.trace_id ?? null,
    span_id: e.span_id ?? null,
    ip_hash: e.ip_hash ?? null,
    user_agent: e.user_agent ?? null,
    metadata: e.metadata,
  };
}

export function toEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    occurred_at: row.occurred_at,
    received_at: row.received_at,
    seq: row.seq,
    action: row.action,
    status: row.status,
    actor: { type: row.actor_type, id: row.actor_id, display: row.actor_display },
    object: row.object_type !== null && row.object_id !== null ? { type: row.object_type, id: row.object_id } : null,
    request_id: row.request_id,
    trace_id: row.trace_id,
    span_id: row.span_id,
    ip_hash: row.ip_hash,
    user_agent: row.user_agent,
    metadata: row.metadata,
  };
}
