// What the gateway records about API keys, where they are checked: accepted, rejected and rate-limited
// authentications as auth.api_key.* events. A key is named by its key id (HMAC-SHA256 under the gateway's key),
// never by the key. An activity log records user actions, not requests: an accepted key is recorded once per key
// per interval (a "session" of use), and repeated refusals of the same key for the same reason once per interval,
// with the number of repeats since, so a client retrying a bad key in a loop cannot flood the trail.
import { createHmac } from 'node:crypto';
import type { AuditClient } from '@lookout/agent';

/** Hex characters of the HMAC kept: 128 bits, plenty to tell keys apart, and not the key. */
const KEY_ID_LENGTH = 32;
/** Throttle entries kept at most; beyond it the oldest are forgotten (a spray of distinct bad keys cannot grow it). */
const MAX_ENTRIES = 10_000;

/** The one-way id that names an API key in events and logs: HMAC-SHA256(hmacKey, key), hex, first 32 characters. */
export function keyId(hmacKey: Buffer, key: string): string {
  return createHmac('sha256', hmacKey).update(key).digest('hex').slice(0, KEY_ID_LENGTH);
}

export type KeyRejection = 'missing' | 'malformed' | 'unknown';

export interface KeyAuditOptions {
  audit: AuditClient;
  acceptedEveryMs: number;
  refusedEveryMs: number;
  /** Tenant of refusals that have none (no key, or a key nobody issued). */
  systemTenant: string;
  now?: () => number;
}

interface Request {
  method: string;
  path: string;
}

/** The request line as the schema takes it (a longer path would fail the whole batch it is sent in). */
export function requestOf(method: string, path: string): Request {
  return { method: method.slice(0, 32), path: path.slice(0, 1024) };
}

export class KeyAudit {
  /** Throttle key → when it was last recorded and how many times it was skipped since. */
  private readonly last = new Map<string, { at: number; skipped: number }>();
  private readonly now: () => number;

  constructor(private readonly options: KeyAuditOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  accepted(tenant: string, user: string, id: string, request: Request): void {
    if (this.throttled(`accepted:${tenant}:${id}`, this.options.acceptedEveryMs) === undefined) return;
    this.options.audit.record('auth.api_key.accepted', {
      tenant,
      actor: { type: 'user', id: user },
      object: { type: 'api_key', id },
      status: 'success',
      metadata: { key_id: id, ...request },
    });
  }

  rejected(reason: KeyRejection, id: string | undefined, request: Request): void {
    const repeats = this.throttled(`rejected:${reason}:${id ?? ''}`, this.options.refusedEveryMs);
    if (repeats === undefined) return;
    this.options.audit.record('auth.api_key.rejected', {
      tenant: this.options.systemTenant,
      // Nobody is known: the actor is the key presented, or the anonymous caller.
      actor: id ? { type: 'api_key', id } : { type: 'system', id: 'anonymous' },
      ...(id ? { object: { type: 'api_key', id } } : {}),
      status: 'failure',
      metadata: { reason, ...(id ? { key_id: id } : {}), ...request, repeats },
    });
  }

  rateLimited(tenant: string, user: string, id: string, limit: { perSecond: number; burst: number; retryAfterS: number }, request: Request): void {
    const repeats = this.throttled(`limited:${tenant}:${id}`, this.options.refusedEveryMs);
    if (repeats === undefined) return;
    this.options.audit.record('auth.api_key.rate_limited', {
      tenant,
      actor: { type: 'user', id: user },
      object: { type: 'api_key', id },
      status: 'failure',
      metadata: { key_id: id, limit_per_s: limit.perSecond, burst: limit.burst, retry_after_s: limit.retryAfterS, ...request, repeats },
    });
  }

  /** undefined: skip this one (counted); otherwise record it, with the number skipped since the last record. */
  private throttled(key: string, everyMs: number): number | undefined {
    const now = this.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < everyMs) {
      entry.skipped++;
      return undefined;
    }
    if (entry) this.last.delete(key); // re-inserted below: the map stays in order of last record
    else if (this.last.size >= MAX_ENTRIES) this.last.delete(this.last.keys().next().value!);
    this.last.set(key, { at: now, skipped: 0 });
    return entry?.skipped ?? 0;
  }
}
