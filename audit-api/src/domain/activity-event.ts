// The activity event as the API returns it, as stored, and as it arrives to be stored.
import type { EventStatus } from '@lookout/agent';

/** An event as the API returns it. */
export interface ActivityEvent {
  id: string;
  tenant_id: string;
  occurred_at: string;
  received_at: string;
  action: string;
  status: EventStatus;
  actor: { type: string; id: string; display: string | null };
  object: { type: string; id: string } | null;
  request_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  ip_hash: string | null;
  user_agent: string | null;
  metadata: Record<string, unknown>;
}

/** Stored events also carry their insertion sequence (the SSE id). */
export interface StoredEvent extends ActivityEvent {
  seq: string;
}

/** An event ready to store: validated, scrubbed, with tenant and request context filled in. */
export interface NewEvent {
  id: string;
  occurred_at: Date;
  action: string;
  status: EventStatus;
  actor: { type: string; id: string; display?: string | undefined };
  object?: { type: string; id: string } | undefined;
  request_id?: string | undefined;
  trace_id?: string | undefined;
  span_id?: string | undefined;
  ip_hash?: string | undefined;
  user_agent?: string | undefined;
  metadata: Record<string, unknown>;
  /**
   * The client chose the id but not occurred_at (the server defaulted it to now): a retry of it carries
   * another occurred_at, so only a lookup by id across every partition finds the first copy.
   */
  idWithoutTime?: boolean;
}
