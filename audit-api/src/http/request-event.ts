// Turns a validated event body into the row to store, adding what only the request knows: the tenant
// (from the verified token), the hashed client address, the user agent, and the trace and request ids
// when the body has none.
import type { Context } from 'koa';
import { currentRequestId } from '@lookout/agent';
import { ApiError } from '../domain/errors.js';
import type { ActivityEventInput } from '../domain/event.js';
import { uuidv7 } from '../domain/ids.js';
import { hashIp } from '../domain/ip.js';
import { scrubText } from '../domain/scrub.js';
import type { NewEvent } from '../store/events.js';

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
  // The caller's span (the parent in traceparent) is the operation the event belongs to.
  const traceparent = TRACEPARENT.exec(ctx.get('traceparent'));
  const userAgent = ctx.get('user-agent');
  if (userAgent.length > MAX_USER_AGENT) throw new ApiError(400, 'field_too_long', `User-Agent is longer than ${MAX_USER_AGENT} characters`, 'user-agent');
  return {
    id: input.id ?? uuidv7(),
    occurred_at: occurredAt,
    action: input.action,
    status: input.status,
    actor: input.actor,
    object: input.object,
    request_id: input.request_id ?? currentRequestId() ?? (ctx.get('x-request-id') || undefined),
    trace_id: input.trace_id ?? traceparent?.[1],
    span_id: input.span_id ?? (input.trace_id ? undefined : traceparent?.[2]),
    ip_hash: ctx.ip ? hashIp(options.ipHmacKey, ctx.ip) : undefined,
    user_agent: userAgent ? scrubText(userAgent) : undefined,
    metadata: input.metadata,
  };
}
