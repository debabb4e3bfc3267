// Parses an activity event body (or a batch of them) into a validated, scrubbed input: 4xx naming the field on anything wrong.
import { Ajv, type ErrorObject } from 'ajv';
import formats from 'ajv-formats';
import { ACTOR_TYPES, EVENT_STATUSES, MAX_BATCH, REQUEST_ID_PATTERN, type EventStatus } from '@lookout/agent';
import { ApiError } from './errors.js';
import { scrubIdentity, scrubMetadata, scrubText } from './scrub.js';
import { closedFields, explainSchemaError, TIMESTAMP_SCHEMA, validateMetadata } from './taxonomy.js';

export const MAX_METADATA_BYTES = 8192;

export interface ActivityEventInput {
  id?: string;
  action: string;
  status: EventStatus;
  occurred_at?: string;
  actor: { type: string; id: string; display?: string };
  object?: { type: string; id: string };
  request_id?: string;
  trace_id?: string;
  span_id?: string;
  metadata: Record<string, unknown>;
}

const EVENT_SCHEMA = {
  type: 'object',
  required: ['action', 'status', 'actor'],
  additionalProperties: false,
  properties: {
    // Any version: clients may bring their own ids (for idempotent retries), not only our v7.
    // A pattern, not ajv-formats' uuid, which also takes a "urn:uuid:" prefix.
    id: {
      type: 'string',
      pattern: '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$',
      description: 'a UUID such as 01890a5d-ac96-774b-bcce-b302099a8058',
    },
    action: { type: 'string', minLength: 1, maxLength: 100 },
    status: { type: 'string', enum: [...EVENT_STATUSES] },
    occurred_at: TIMESTAMP_SCHEMA,
    actor: {
      type: 'object',
      required: ['type', 'id'],
      additionalProperties: false,
      properties: {
        type: { type: 'string', enum: [...ACTOR_TYPES] },
        id: { type: 'string', minLength: 1, maxLength: 256 },
        display: { type: 'string', maxLength: 256 },
      },
    },
    object: {
      type: 'object',
      required: ['type', 'id'],
      additionalProperties: false,
      properties: {
        type: { type: 'string', minLength: 1, maxLength: 100 },
        id: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
    // Whatever request id the agent keeps or makes for a request (REQUEST_ID_PATTERN), so a service's audit
    // events are never refused for the id its caller chose.
    request_id: { type: 'string', minLength: 1, maxLength: 128, pattern: REQUEST_ID_PATTERN.source, description: '1 to 128 letters, digits and . _ : @ / + = -' },
    // W3C Trace Context: lower-case hex, and all zeros is the invalid id.
    trace_id: { type: 'string', pattern: '^(?!0{32}$)[0-9a-f]{32}$', description: '32 lower-case hex digits, not all zero' },
    span_id: { type: 'string', pattern: '^(?!0{16}$)[0-9a-f]{16}$', description: '16 lower-case hex digits, not all zero' },
    metadata: { type: 'object' },
  },
};

// Fields a client might think it should send; the server sets them, from what it can trust.
const SERVER_FIELDS = new Map([
  ['tenant_id', 'the tenant comes from the access token'],
  ['ip', 'the client address comes from the connection'],
  ['ip_hash', 'the client address comes from the connection'],
  ['user_agent', 'the user agent comes from the User-Agent header'],
  ['received_at', 'the server sets it when the event arrives'],
]);

const FUTURE_SLACK_MS = 24 * 3_600_000;
const EARLIEST_MS = Date.UTC(2000, 0, 1);

// ajv-formats is CommonJS: imported from ESM, its plugin is the module's `default` property.
const addFormats = formats.default;
const ajv = new Ajv({ allErrors: false, strict: true, verbose: true });
addFormats(ajv, ['date-time']);
// What the schema guarantees; metadata becomes {} when absent.
type EventBody = Omit<ActivityEventInput, 'metadata'> & { metadata?: Record<string, unknown> };
const validateShape = ajv.compile<EventBody>(EVENT_SCHEMA);

/**
 * One event body, validated then scrubbed. `path` prefixes every error's field (`events[3].`).
 * Checks run in order: shape, the action and its metadata schema, the metadata size; the first failure
 * is the error. Too-long strings are refused, never truncated: an audit record is kept whole or not at all.
 */
export function parseEvent(body: unknown, path = ''): ActivityEventInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'invalid_body', 'an event must be a JSON object', path ? path.slice(0, -1) : 'body');
  }
  if (!validateShape(body)) throw shapeError(validateShape.errors![0]!, path);
  const input = body;
  const metadata = input.metadata ?? {};

  if (input.occurred_at !== undefined) checkOccurredAt(input.occurred_at, `${path}occurred_at`);
  validateMetadata(input.action, metadata, path);
  const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    throw new ApiError(413, 'metadata_too_large', `metadata is ${bytes} bytes as JSON; at most ${MAX_METADATA_BYTES} are accepted`, `${path}metadata`);
  }

  const scrubbed = scrubMetadata(metadata, closedFields(input.action));
  // Removed secrets leave their key paths behind under _removed_keys, so a reader sees that something
  // was withheld. No client can send that key itself: every action's metadata schema is closed.
  const cleanMetadata = scrubbed.removedKeys.length > 0 ? { ...scrubbed.value, _removed_keys: scrubbed.removedKeys } : scrubbed.value;
  return {
    ...(input.id !== undefined && { id: input.id.toLowerCase() }),
    action: input.action,
    status: input.status,
    ...(input.occurred_at !== undefined && { occurred_at: input.occurred_at }),
    actor: {
      type: input.actor.type,
      id: scrubIdentity(input.actor.id),
      ...(input.actor.display !== undefined && { display: scrubIdentity(input.actor.display) }),
    },
    ...(input.object !== undefined && { object: { type: scrubText(input.object.type), id: scrubIdentity(input.object.id) } }),
    // The patterns above admit no secret and no newline in these three.
    ...(input.request_id !== undefined && { request_id: input.request_id }),
    ...(input.trace_id !== undefined && { trace_id: input.trace_id }),
    ...(input.span_id !== undefined && { span_id: input.span_id }),
    metadata: cleanMetadata,
  };
}

/** `{ "events": [ … ] }`: 1 to MAX_BATCH events, each parsed as by parseEvent, ids unique within the batch. */
export function parseBatch(body: unknown): ActivityEventInput[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'invalid_body', 'a batch must be a JSON object: { "events": [ … ] }', 'body');
  }
  for (const key of Object.keys(body)) {
    if (key !== 'events') throw new ApiError(400, 'unknown_field', `${key} is not an accepted field; a batch is { "events": [ … ] }`, key);
  }
  const events = (body as { events?: unknown }).events;
  if (events === undefined) throw new ApiError(400, 'missing_field', 'events is required: { "events": [ … ] }', 'events');
  if (!Array.isArray(events)) throw new ApiError(400, 'invalid_field', 'events must be an array of events', 'events');
  if (events.length === 0) throw new ApiError(400, 'invalid_field', `events is empty; send 1 to ${MAX_BATCH} events`, 'events');
  // Checked before any event is parsed, so an oversized batch costs no validation.
  if (events.length > MAX_BATCH) {
    throw new ApiError(413, 'batch_too_large', `a batch holds at most ${MAX_BATCH} events; this one has ${events.length}; split it`, 'events');
  }
  const seen = new Set<string>();
  return events.map((event, i) => {
    const parsed = parseEvent(event, `events[${i}].`);
    if (parsed.id !== undefined) {
      // One id twice in one batch is a client bug, not a retry: refuse rather than keep either silently.
      if (seen.has(parsed.id)) throw new ApiError(400, 'duplicate_id', `id ${parsed.id} appears more than once in this batch`, `events[${i}].id`);
      seen.add(parsed.id);
    }
    return parsed;
  });
}

function shapeError(error: ErrorObject, path: string): ApiError {
  const { field, message } = explainSchemaError(error, path.replace(/\.$/, ''));
  switch (error.keyword) {
    case 'required':
      return new ApiError(400, 'missing_field', message, field);
    case 'additionalProperties': {
      const why = error.instancePath === '' ? SERVER_FIELDS.get(String(error.params.additionalProperty)) : undefined;
      return new ApiError(400, 'unknown_field', why ? `${field} is not accepted: ${why}` : message, field);
    }
    case 'maxLength':
      return new ApiError(400, 'field_too_long', message, field);
    default:
      return new ApiError(400, 'invalid_field', message, field);
  }
}

/** The format check leaves the range: refuse clocks that are clearly wrong, and what Date cannot hold. */
function checkOccurredAt(value: string, field: string): void {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ApiError(400, 'invalid_field', `${field} is not a valid timestamp`, field);
  if (ms > Date.now() + FUTURE_SLACK_MS) throw new ApiError(400, 'invalid_field', `${field} is more than 24 hours in the future; check the sender's clock`, field);
  if (ms < EARLIEST_MS) throw new ApiError(400, 'invalid_field', `${field} is before 2000-01-01`, field);
}
