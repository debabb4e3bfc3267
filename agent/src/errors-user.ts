// setUser(): names the user a request serves, as enduser.id on its spans and log records, so an error
// says how many users it touched. The id passes the redaction policy like everything else exported.
import { createHash } from 'node:crypto';
import { context, trace } from '@opentelemetry/api';
import { redactionPolicy } from './redact.js';
import { ENDUSER_ID, setRequestUser } from './request-state.js';
import { warnThrottled } from './warn.js';

export interface EndUser {
  /** The app's id for the user: 1–256 characters, or an integer. Prefer an opaque id to an e-mail address. */
  id: string | number;
}

const MAX_ID_LENGTH = 256;

/**
 * Sets `enduser.id` on the active span and on the server span of the HTTP request being handled, and
 * makes every log record written later in that request carry it. Outside a request, only the active span.
 *
 * An id the redaction policy would change (an e-mail address or phone number, while LOOKOUT_REDACT_EMAILS /
 * _PHONES are on) is exported as `sha256:` and the first 16 hex digits of the SHA-256 of the id in lower
 * case: users stay countable and one user's errors findable (hash the address to search), and the address
 * itself is never exported. That is pseudonymous, not anonymous: anyone holding an address can compute its
 * hash. A bad id (empty, longer than 256 characters, not a string or integer) warns and is ignored, never
 * throws into the request.
 */
export function setUser(user: EndUser): void {
  const id = validId(user);
  if (id === undefined) return;
  const value = exportable(id);
  const ctx = context.active();
  const active = trace.getSpan(ctx);
  active?.setAttribute(ENDUSER_ID, value);
  const server = setRequestUser(ctx, value);
  if (server !== undefined && server !== active) server.setAttribute(ENDUSER_ID, value);
}

function validId(user: EndUser): string | undefined {
  const id = (user as Partial<EndUser> | null | undefined)?.id;
  if (typeof id === 'string' && id.trim().length > 0 && id.length <= MAX_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  const given = typeof id === 'string' ? `a string of ${id.length} characters` : typeof id;
  warnThrottled('setUser', `setUser() takes { id } as a string of 1–${MAX_ID_LENGTH} characters or an integer, got ${given}; ignored`);
  return undefined;
}

function exportable(id: string): string {
  if (redactionPolicy().redactString(id) === id) return id;
  return `sha256:${createHash('sha256').update(id.trim().toLowerCase()).digest('hex').slice(0, 16)}`;
}
