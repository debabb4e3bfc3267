// What a seal commits to: the canonical serialisation of a stored event and the hash-chain step. An event's
// canonical form is its line in `COPY (select HASH_COLUMNS …) TO STDOUT` (text format: tab-separated, \N for
// null, PostgreSQL's backslash escapes), so anyone can reproduce a hash with psql and sha256sum, and verify
// hashes the bytes COPY sends without decoding them. The sealer builds the same line from fetched values.
import { hash } from 'node:crypto';
import type { EventRow } from '../store/events.js';

// Timestamps as text to the microsecond in UTC (what is stored, exactly), and metadata as PostgreSQL's own
// text form of the jsonb value: jsonb keeps one normalised copy (keys deduplicated and in a fixed order,
// numbers as numeric), so its text is canonical and the same after a dump and restore.
const UTC_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
export const HASH_COLUMNS = `tenant_id, id,
  to_char(occurred_at at time zone 'UTC', ${UTC_US}) as occurred_at,
  to_char(received_at at time zone 'UTC', ${UTC_US}) as received_at,
  seq::text as seq, action, status, actor_type, actor_id, actor_display, object_type, object_id,
  request_id, trace_id, span_id, ip_hash, user_agent, metadata::text as metadata`;

/** A row as HASH_COLUMNS selects it: the stored event's columns, timestamps, status and metadata as text. */
export type HashRow = Omit<EventRow, 'occurred_at' | 'status' | 'metadata'> & { tenant_id: string; occurred_at: string; status: string; metadata: string };

/** The chain's value before its first entry. */
export const GENESIS = Buffer.alloc(32);

/** The number of HASH_COLUMNS: the fields of a canonical line. */
export const HASH_FIELDS = 18;

/**
 * The canonical line of a row (without its newline). `at`/`seq` replace the row's own ordering fields, so verify
 * can ask "is this the sealed event, only moved?".
 */
export function canonicalLine(row: HashRow, at: string = row.occurred_at, seq: string = row.seq): string {
  const fields = [
    row.tenant_id,
    row.id,
    at,
    row.received_at,
    seq,
    row.action,
    row.status,
    row.actor_type,
    row.actor_id,
    row.actor_display,
    row.object_type,
    row.object_id,
    row.request_id,
    row.trace_id,
    row.span_id,
    row.ip_hash,
    row.user_agent,
    row.metadata,
  ];
  return fields.map((f) => (f === null ? '\\N' : copyEscape(f))).join('\t');
}

/** sha256 of the canonical line. */
export function eventHash(row: HashRow, at?: string, seq?: string): Buffer {
  return hash('sha256', canonicalLine(row, at, seq), 'buffer');
}

// COPY's text format, as PostgreSQL writes it (CopyAttributeOutText): backslash, and \b \f \n \r \t \v as
// backslash sequences; every other character as it is.
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
const NEEDS_ESCAPE = /[\\\b\f\n\r\t\v]/g;

export function copyEscape(value: string): string {
  return value.replace(NEEDS_ESCAPE, (c) => ESCAPES[c]!);
}

/** The inverse, for one field of a COPY line (null for \N). */
export function copyUnescape(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  const map: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
  return field.replace(/\\(.)/g, (_, c: string) => map[c] ?? c);
}

/** A HashRow from the first HASH_FIELDS fields of a COPY line. */
export function rowFromFields(fields: string[]): HashRow {
  const f = fields.map(copyUnescape);
  return {
    tenant_id: f[0]!,
    id: f[1]!,
    occurred_at: f[2]!,
    received_at: f[3]!,
    seq: f[4]!,
    action: f[5]!,
    status: f[6]!,
    actor_type: f[7]!,
    actor_id: f[8]!,
    actor_display: f[9] ?? null,
    object_type: f[10] ?? null,
    object_id: f[11] ?? null,
    request_id: f[12] ?? null,
    trace_id: f[13] ?? null,
    span_id: f[14] ?? null,
    ip_hash: f[15] ?? null,
    user_agent: f[16] ?? null,
    metadata: f[17]!,
  };
}

/** chain_n = sha256(chain_{n-1} || event_hash_n). */
export function chainStep(previous: Buffer, event: Buffer): Buffer {
  return hash('sha256', Buffer.concat([previous, event], 64), 'buffer');
}
