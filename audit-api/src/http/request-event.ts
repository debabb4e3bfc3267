// Turns a validated event body into the row to store, adding what only the request knows: the tenant
// (from the verified token), the hashed client address, the user agent, and the trace and request ids
// when the body has none.
import type { Context } from 'koa';
import { currentRequestId, uuidv7 } from '@lookout/agent';
import { ApiError } from '../domain/errors.js';
import type { ActivityEventInput } from '../domain/event.js';
import { hashIp } from '../domain/ip.js';
import { scrubText } from '../domain/scrub.js';
import type { NewEvent } from '../domain/activity-event.js';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const MAX_USER_AGENT = 1024;

export interface RequestEventOptions {
  ipHmacKey: Buffer;
  retentionDays: number;
}

export function requestEvent(ctx: Context, input: ActivityEventInput, options: RequestEventOptions, path = ''): NewEvent {
  const occurredAt = input.occurred_at ? new Date(input.occurred_at) : new Date();
  if (occurredAt.getTime() < Date.now() - options.retentionDays * 86_400_000) {
    throw new ApiError(400, 'invalid_field', `occurred_at is older than the retention period of ${options.retentionDays} days`, `${path}occurred_at`);
  }
  const request = requestFields(ctx, options);
  return {
    id: input.id ?? uuidv7(),
    occurred_at: occurredAt,
    action: input.action,
    status: input.status,
    actor: input.actor,
    object: input.object,
    request_id: input.request_id ?? request.requestId,
    trace_id: input.trace_id ?? request.traceId,
    span_id: input.span_id ?? (input.trace_id ? undefined : request.spanId),
    ip_hash: request.ipHash,
    user_agent: request.userAgent,
    metadata: input.metadata,
    idWithoutTime: input.id !== undefined && input.occurred_at === undefined,
  };
}

interface RequestFields {
  requestId: string | undefined;
  traceId: string | undefined;
  spanId: string | undefined;
  ipHash: string | undefined;
  userAgent: string | undefined;
}

// Worked out once per request, not once per event: a batch of 1000 would otherwise compute the same
// HMAC and scrub the same User-Agent a thousand times.
const perRequest = new WeakMap<Context, RequestFields>();

function requestFields(ctx: Context, options: RequestEventOptions): RequestFields {
  let fields = perRequest.get(ctx);
  if (fields) return fields;
  // The caller's span (the parent in traceparent) is the operation the event belongs to.
  const traceparent = TRACEPARENT.exec(ctx.get('traceparent'));
  const userAgent = ctx.get('user-agent');
  if (userAgent.length > MAX_USER_AGENT) throw new ApiError(400, 'field_too_long', `User-Agent is longer than ${MAX_USER_AGENT} characters`, 'user-agent');
  fields = {
    requestId: currentRequestId() ?? (ctx.get('x-request-id') || undefined),
    traceId: traceparent?.[1],
    spanId: traceparent?.[2],
    ipHash: ctx.ip ? hashIp(options.ipHmacKey, ctx.ip) : undefined,
    userAgent: userAgent ? scrubText(userAgent) : undefined,
  };
  perRequest.set(ctx, fields);
  return fields;
}
