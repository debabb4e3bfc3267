// Opaque page cursors: the keyset position (occurred_at to the microsecond, id), bound to the tenant and
// the filters it was issued for, and signed, so a forged, edited or borrowed cursor is a 400, not a peek.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from '../domain/errors.js';

export interface CursorPosition {
  /** occurred_at as PostgreSQL prints it in UTC with microseconds: 2026-11-22T10:00:00.123456Z */
  occurredAt: string;
  id: string;
}

interface Payload {
  v: 1;
  t: string;
  i: string;
  /** Digest of tenant and filters: the cursor only continues the listing it came from. */
  s: string;
}

export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  encode(position: CursorPosition, tenantId: string, filters: Record<string, string>): string {
    const payload: Payload = { v: 1, t: position.occurredAt, i: position.id, s: this.scope(tenantId, filters) };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  decode(cursor: string, tenantId: string, filters: Record<string, string>): CursorPosition {
    const [body, signature, rest] = cursor.split('.');
    if (!body || !signature || rest !== undefined || cursor.length > 512) throw invalid('malformed cursor');
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalid('cursor signature does not match');
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      throw invalid('malformed cursor');
    }
    // A valid signature over another tenant's or another filter set's listing.
    if (payload.s !== this.scope(tenantId, filters)) throw invalid('cursor was issued for a different listing (tenant or filters changed)');
    if (payload.v !== 1 || typeof payload.t !== 'string' || typeof payload.i !== 'string') throw invalid('malformed cursor');
    return { occurredAt: payload.t, id: payload.i };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  private scope(tenantId: string, filters: Record<string, string>): string {
    const canonical = JSON.stringify([tenantId, Object.entries(filters).sort(([a], [b]) => a.localeCompare(b))]);
    return createHmac('sha256', this.key).update(canonical).digest('base64url').slice(0, 22);
  }
}

function invalid(message: string): ApiError {
  return new ApiError(400, 'invalid_cursor', message, 'cursor');
}
