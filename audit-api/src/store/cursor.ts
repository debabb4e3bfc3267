// Opaque page cursors: the keyset position (occurred_at to the microsecond, id), bound to the tenant and
// the filters it was issued for, and signed, so a forged, edited or borrowed cursor is a 400, not a peek.
// During a key rotation, cursors signed with the previous key are still read; new ones carry the current key.
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
  /**
   * `previousKey`: the key being rotated out (LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS); `onPreviousKey` is called
   * for each cursor accepted under it, so the operator sees when no open listing uses it any more.
   */
  constructor(
    private readonly key: Buffer,
    private readonly previousKey?: Buffer,
    private readonly onPreviousKey: () => void = () => {},
  ) {}

  encode(position: CursorPosition, tenantId: string, filters: Record<string, string>): string {
    const payload: Payload = { v: 1, t: position.occurredAt, i: position.id, s: scope(this.key, tenantId, filters) };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${sign(this.key, body)}`;
  }

  decode(cursor: string, tenantId: string, filters: Record<string, string>): CursorPosition {
    const [body, signature, rest] = cursor.split('.');
    if (!body || !signature || rest !== undefined || cursor.length > 512) throw invalid('malformed cursor');
    // The previous key costs a second HMAC only for cursors the current key did not sign.
    const key = signedBy(this.key, body, signature) ? this.key : this.previousKey && signedBy(this.previousKey, body, signature) ? this.previousKey : undefined;
    if (!key) throw invalid('cursor signature does not match');
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      throw invalid('malformed cursor');
    }
    // A valid signature over another tenant's or another filter set's listing.
    if (payload.s !== scope(key, tenantId, filters)) throw invalid('cursor was issued for a different listing (tenant or filters changed)');
    if (payload.v !== 1 || typeof payload.t !== 'string' || typeof payload.i !== 'string') throw invalid('malformed cursor');
    if (key !== this.key) this.onPreviousKey();
    return { occurredAt: payload.t, id: payload.i };
  }
}

function signedBy(key: Buffer, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(key, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function sign(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('base64url');
}

function scope(key: Buffer, tenantId: string, filters: Record<string, string>): string {
  const canonical = JSON.stringify([tenantId, Object.entries(filters).sort(([a], [b]) => a.localeCompare(b))]);
  return createHmac('sha256', key).update(canonical).digest('base64url').slice(0, 22);
}

function invalid(message: string): ApiError {
  return new ApiError(400, 'invalid_cursor', message, 'cursor');
}
