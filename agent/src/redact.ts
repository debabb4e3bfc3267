// The one redaction policy: which keys are secret and which values look like credentials.
// Shared by log fields, span attributes, OTLP log records and (later) audit metadata.

export const REDACTED = '[REDACTED]';

// Long fragments match anywhere in a key (camelCase and snake_case alike); "token" spares counts
// such as gen_ai.usage.input_tokens.
const KEY_FRAGMENTS = [
  'passw(?:or)?d',
  'pwd',
  'secret',
  'token(?!s)',
  'api[-_.]?key',
  'access[-_.]?key',
  'private[-_.]?key',
  'authorization',
  'credential',
  'cookie',
  'session',
  'social[-_.]?security',
  'tax[-_.]?id',
  'card[-_.]?(?:number|num|no)',
  'credit[-_.]?card',
];
// Short fragments only as a whole word, so "classname" is not an SSN and "company" not a card PAN.
const KEY_WORDS = ['ssn', 'tin', 'pan', 'cvv', 'cvc', 'pin', 'otp', 'jwt', 'pass', 'passphrase'];

const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
// Card numbers start with 2–6 (Mastercard, Visa, Amex, Discover…); that also spares millisecond timestamps.
const CARD = /\b[2-6]\d(?:[ -]?\d){11,17}\b/g;
// user:password@ in URLs (postgres://app:s3cret@db/x).
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@/?#\s]+@/gi;
// What each pattern needs at the least, tested before it runs: most strings (ids, timestamps, paths) carry
// digits but no run long enough for a card, and no '=', '@', 'eyJ' or auth scheme.
const CARD_RUN = /\d(?:[ -]?\d){12}/;
const AUTH_SCHEME = /bearer|basic /i;

// Attributes the instrumentations set from structured values (methods, ports, addresses, routes, status
// codes): never a place for a credential, so span redaction skips them on the hot path.
const STRUCTURED_KEYS = new Set([
  'http.request.method',
  'http.response.status_code',
  'http.route',
  'url.scheme',
  'server.address',
  'server.port',
  'client.address',
  'network.peer.address',
  'network.peer.port',
  'network.protocol.version',
  'error.type',
  'request_id',
  'db.system.name',
  'db.namespace',
  'db.operation.name',
]);


export interface RedactionPolicy {
  /** True when a key (attribute name, log field, metadata key) names a secret. */
  isSensitiveKey(key: string): boolean;
  /** Replaces credential-looking parts of a string (JWTs, bearer tokens, card numbers, secret query params). */
  redactString(value: string): string;
  /** Redacts a flat attribute map in place: secret keys get REDACTED, string values are scrubbed. Returns the count. */
  redactAttributesInPlace(attributes: Record<string, unknown>): number;
  /** A redacted deep copy of any JSON-like value (nested objects and arrays, bounded depth). */
  redactValue<T>(value: T): T;
}

export function createRedactionPolicy(extraKeys: readonly string[] = []): RedactionPolicy {
  const extra = extraKeys.map((k) => k.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const keyPattern = new RegExp(
    `(?:${[...KEY_FRAGMENTS, ...extra].join('|')})|(?:^|[^a-z0-9])(?:${KEY_WORDS.join('|')})(?:$|[^a-z0-9])`,
    'i',
  );
  // key=value pairs in URLs and query strings (url.full, url.query), at the start or after ?, & or ;.
  const queryParam = new RegExp(`((?:^|[?&;])(?:[^=&#\\s]*(?:${[...KEY_FRAGMENTS, ...extra].join('|')})[^=&#\\s]*)=)[^&#\\s]*`, 'gi');
  const keyCache = new Map<string, boolean>();

  function isSensitiveKey(key: string): boolean {
    let hit = keyCache.get(key);
    if (hit === undefined) {
      hit = keyPattern.test(splitCamel(key));
      // Attribute names repeat endlessly; cache them, but never let a stream of unique keys grow it unbounded.
      if (keyCache.size < 10_000) keyCache.set(key, hit);
    }
    return hit;
  }

  function redactString(value: string): string {
    if (value.length < 8) return value;
    // Each replacement runs only on strings that can hold what it looks for (a span or log record has
    // several strings, and this runs for each of them on every request).
    let out = value;
    if (out.includes('eyJ')) out = out.replace(JWT, REDACTED);
    if (out.includes('@')) out = out.replace(USERINFO, `$1${REDACTED}@`);
    if (AUTH_SCHEME.test(out)) out = out.replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`);
    if (out.includes('=')) out = out.replace(queryParam, `$1${REDACTED}`);
    if (CARD_RUN.test(out)) out = out.replace(CARD, (digits) => (luhn(digits) ? REDACTED : digits));
    return out;
  }

  function redactAttributesInPlace(attributes: Record<string, unknown>): number {
    let count = 0;
    for (const key in attributes) {
      if (STRUCTURED_KEYS.has(key)) continue;
      const value = attributes[key];
      if (isSensitiveKey(key)) {
        if (value !== REDACTED) {
          attributes[key] = REDACTED;
          count++;
        }
      } else if (typeof value === 'string') {
        const clean = redactString(value);
        if (clean !== value) {
          attributes[key] = clean;
          count++;
        }
      } else if (value !== null && typeof value === 'object') {
        // Arrays, and the nested maps log records may carry.
        attributes[key] = redactValue(value);
      }
    }
    return count;
  }

  function redactValue<T>(value: T, depth = 0): T {
    if (typeof value === 'string') return redactString(value) as T;
    if (value === null || typeof value !== 'object' || depth > 8) return value;
    if (Array.isArray(value)) return value.map((v: unknown) => redactValue(v, depth + 1)) as T;
    if (value instanceof Error || value instanceof Date || Buffer.isBuffer(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      out[key] = isSensitiveKey(key) ? REDACTED : redactValue(v, depth + 1);
    }
    return out as T;
  }

  return { isSensitiveKey, redactString, redactAttributesInPlace, redactValue };
}

/** "accessToken" → "access_token", so camelCase keys meet the word boundaries above. */
function splitCamel(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2');
}

function luhn(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

let shared: RedactionPolicy | undefined;

/** The process-wide policy, built from LOOKOUT_REDACT_KEYS on first use. */
export function redactionPolicy(): RedactionPolicy {
  shared ??= createRedactionPolicy(
    (process.env.LOOKOUT_REDACT_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
  );
  return shared;
}
