// One record() call's input, validated and made into the event's JSON, with the request and trace it
// happened in: the event is fixed at record(), whatever the caller changes afterwards.
import { context, trace } from '@opentelemetry/api';
import { currentRequestId } from '../request-id.js';
import { ACTOR_TYPES, EVENT_STATUSES, type ActorType, type EventStatus } from './contract.js';

export interface AuditRecordOptions {
  actor: { type: ActorType; id: string; display?: string };
  object?: { type: string; id: string };
  metadata?: Record<string, unknown>;
  status?: EventStatus;
  /** Default: now. */
  occurredAt?: Date;
  /** The tenant the event belongs to; chooses the token (`token(tenant)`). */
  tenant?: string;
}

/** An event ready to queue: its tenant and its JSON. */
export interface BuiltEvent {
  tenant: string | undefined;
  json: string;
}

/**
 * The event as JSON, or why it cannot be sent. `tokenTenant` is the tenant_id of a static token: an event
 * for another tenant is refused rather than filed under the token's.
 */
export function buildEvent(id: string, action: unknown, options: unknown, tokenTenant: string | undefined): BuiltEvent | string {
  try {
    return build(id, action, options, tokenTenant);
  } catch (err) {
    return `its options could not be read (${(err as Error)?.message ?? String(err)})`; // a throwing getter or Proxy
  }
}

/** The action for a warning: quoted and cut short, or its type when it is no string. */
export function describeAction(action: unknown): string {
  return typeof action === 'string' ? JSON.stringify(action.slice(0, 100)) : `(action ${typeof action})`;
}

function build(id: string, action: unknown, options: unknown, tokenTenant: string | undefined): BuiltEvent | string {
  if (typeof action !== 'string' || action.length === 0) return 'action must be a non-empty string such as "auth.login.success"';
  if (typeof options !== 'object' || options === null) return 'options must be an object with at least `actor`';
  const { actor, object, metadata, status, occurredAt, tenant } = options as Record<string, unknown>;
  if (typeof actor !== 'object' || actor === null) return 'actor must be an object { type, id }';
  const { type: actorType, id: actorId, display } = actor as Record<string, unknown>;
  if (!isOneOf(ACTOR_TYPES, actorType)) return `actor.type must be one of ${ACTOR_TYPES.join(', ')}`;
  if (typeof actorId !== 'string' || actorId.length === 0) return 'actor.id must be a non-empty string';
  if (display !== undefined && typeof display !== 'string') return 'actor.display must be a string';
  let objectField: { type: string; id: string } | undefined;
  if (object !== undefined) {
    const { type, id: objectId } = (typeof object === 'object' && object !== null ? object : {}) as Record<string, unknown>;
    if (typeof type !== 'string' || !type || typeof objectId !== 'string' || !objectId) return 'object must be { type, id } with non-empty strings';
    objectField = { type, id: objectId };
  }
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) return 'metadata must be an object';
  if (status !== undefined && !isOneOf(EVENT_STATUSES, status)) return `status must be ${EVENT_STATUSES.map((s) => `"${s}"`).join(' or ')}`;
  if (occurredAt !== undefined && !(occurredAt instanceof Date && Number.isFinite(occurredAt.getTime()))) return 'occurredAt must be a valid Date';
  if (tenant !== undefined && (typeof tenant !== 'string' || tenant.length === 0)) return 'tenant must be a non-empty string';
  if (tenant !== undefined && tokenTenant !== undefined && tenant !== tokenTenant) {
    return `tenant "${tenant}" is not the token's tenant_id "${tokenTenant}": the audit API files events under the token's tenant, so give \`token\` as a function of the tenant`;
  }

  const spanContext = trace.getSpanContext(context.active());
  const traced = spanContext !== undefined && trace.isSpanContextValid(spanContext);
  const requestId = currentRequestId();
  const event = {
    id,
    action,
    status: status ?? 'success',
    occurred_at: ((occurredAt as Date | undefined) ?? new Date()).toISOString(),
    actor: { type: actorType, id: actorId, ...(display !== undefined ? { display } : {}) },
    ...(objectField ? { object: objectField } : {}),
    ...(requestId !== undefined ? { request_id: requestId } : {}),
    ...(traced ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {}),
    metadata: metadata ?? {},
  };
  let json: string;
  try {
    json = JSON.stringify(event);
  } catch (err) {
    return `metadata cannot be serialized as JSON (${(err as Error).message})`;
  }
  return { tenant: tenant as string | undefined, json };
}

function isOneOf<T extends string>(list: readonly T[], value: unknown): value is T {
  return (list as readonly unknown[]).includes(value);
}
