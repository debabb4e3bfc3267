// The one redaction policy: which keys are secret and which values look like credentials or personal data.
// Shared by log fields, span attributes, OTLP log records, the resource and audit metadata.
import { redactionSettings } from './config.js';

export const REDACTED = '[REDACTED]';

/** The personal-data classes found by their look inside any string, each one switchable. */
export interface RedactionClasses {
  /** E-mail addresses, and keys naming one (`email`, `user.email`); LOOKOUT_REDACT_EMAILS. */
  emails: boolean;
  /** Phone numbers written as such (`+44 20 7946 0958`, `(415) 555-0132`), and keys naming one; LOOKOUT_REDACT_PHONES. */
  phones: boolean;
  /** US social security numbers (`078-05-1120`); LOOKOUT_REDACT_SSNS. Keys naming an SSN stay secret regardless. */
  ssns: boolean;
}

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
// Personal-data keys as the last word of a key only, so "email_verified" or "phone_count" keep their value.
const EMAIL_KEY = 'e[-_]?mails?(?:[-_]?addr(?:ess)?(?:es)?)?';
const PHONE_KEY = '(?:(?:tele|mobile[-_]?|cell[-_]?)?phone|msisdn|fax|mobile[-_]?(?:number|no))(?:[-_]?(?:number|num|no|nr))?s?';

const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
// Card numbers start with 2–6 (Mastercard, Visa, Amex, Discover…); that also spares millisecond timestamps.
const CARD = /\b[2-6]\d(?:[ -]?\d){11,17}\b/g;
// user:password@ in URLs (postgres://app:s3cret@db/x).
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@/?#\s]+@/gi;
// An address starts where a word starts, so each run of word characters is tried once. Not an address: a
// URL's user (ssh://git@host, https://user@host), scp-style git remotes (git@github.com:org/repo), retina
// asset names (icon@2x.png), package specs (pkg@1.2.3: no alphabetic top-level domain). %40 is the '@' of
// an address sent in a query string (?email=jane%40example.com).
const EMAIL = /(?<![\w.%+-])(?<!:\/\/)[\w.%+-]+(?:@|%40)(?!\d+x\.)(?:[a-z0-9-]+\.)+[a-z]{2,24}(?![\w-]|:[^\s])/gi;
// US SSNs: area 000, 666 and 900–999, group 00 and serial 0000 are never issued, so those stay.
const SSN = /(?<![\w-])(?!000|666|9)\d{3}-(?!00)\d\d-(?!0000)\d{4}(?![\w-])/g;
// Phone numbers as people write them; a bare run of digits (ids, epochs, ports) never matches: it needs a
// leading + (international), or separators in one of the national shapes. Digits are counted afterwards
// (E.164 allows 15; national numbers with trunk 0 have 9 to 11).
const PHONE = new RegExp(
  [
    // International: +country code, then groups separated by space, dot or hyphen, or one (area) group;
    // or the compact E.164 form +14155550132.
    String.raw`(?<![\w+])\+[1-9]\d{0,5}(?:[ .-]?\(\d{1,4}\)[ .-]?\d{1,8}|[ .-]\d{1,8}){1,6}(?![\w-]|[.,]\d)`,
    String.raw`(?<![\w+])\+[1-9]\d{7,14}(?![\w-]|[.,]\d)`,
    // North American: (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132, 1-800-555-0199 (one
    // separator throughout, area and exchange codes start with 2–9).
    String.raw`(?<![\w.+-])(?:1[ .-])?(?:\([2-9]\d\d\) ?[2-9]\d\d[ .-]|[2-9]\d\d([ .-])[2-9]\d\d\1)\d{4}(?![\w-]|[.,]\d)`,
    // With a trunk 0 and an area code from 1–9: 020 7946 0958, 07700 900123, 01 23 45 67 89, 030-12345678,
    // (02) 9876 5432 (one separator throughout; never the SSN shape, which is the SSN class's alone).
    String.raw`(?<![\w.+-])(?!\d{3}-\d\d-\d{4}(?![\w-]))0[1-9]\d{0,3}([ .-])\d{2,8}(?:\2\d{2,8}){0,3}(?![\w-]|[.,]\d)`,
    String.raw`(?<![\w.+-])\(0[1-9]\d{0,3}\) ?\d{2,8}(?:([ .-])\d{2,8}(?:\3\d{2,8}){0,2})?(?![\w-]|[.,]\d)`,
  ].join('|'),
  'g',
);
// What each pattern needs at the least, tested before it runs: most strings (ids, timestamps, paths) carry
// digits but no run long enough for a card, and no '=', '@', 'eyJ' or auth scheme.
const CARD_RUN = /\d(?:[ -]?\d){12}/;
const AUTH_SCHEME = /bearer|basic /i;
// A card's run of 13 digits; or what an SSN and every phone shape but the international ones (a '+')
// contain: two digits, a separator and four digits (555-0132, 7946 0958, 05-1120), or four separated pairs
// (01 23 45 67 89). ISO timestamps, dates, versions, IP addresses and user agents have none of these. Both
// begin with two digits, written once, so the scan tries one thing at each digit.
const DIGIT_CLASSES = /\d\d(?:[ .-]\d\d(?:\d\d|[ .-]\d\d[ .-]\d\d)|(?:[ -]?\d){11})/;

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

const ALL_CLASSES: RedactionClasses = { emails: true, phones: true, ssns: true };

export interface RedactionPolicy {
  /** True when a key (attribute name, log field, metadata key) names a secret or, when on, an e-mail or phone. */
  isSensitiveKey(key: string): boolean;
  /**
   * Replaces credential-looking parts of a string (JWTs, bearer tokens, card numbers, secret parameters,
   * URL passwords) and the personal-data classes that are on (e-mail addresses, phone numbers, SSNs).
   */
  redactString(value: string): string;
  /** Redacts a flat attribute map in place: secret keys get REDACTED, string values are scrubbed. Returns the count. */
  redactAttributesInPlace(attributes: Record<string, unknown>): number;
  /**
   * A redacted deep copy of any JSON-like value (nested objects and arrays, bounded depth). Errors are
   * copied too, with the same prototype and their message and stack redacted; the input is never changed.
   */
  redactValue<T>(value: T): T;
}

/** `extraKeys`: more secret key fragments (LOOKOUT_REDACT_KEYS). `classes`: the personal-data classes, all on by default. */
export function createRedactionPolicy(extraKeys: readonly string[] = [], classes: Partial<RedactionClasses> = {}): RedactionPolicy {
  const on = { ...ALL_CLASSES, ...classes };
  const extra = extraKeys.map((k) => k.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const lastWords = [...(on.emails ? [EMAIL_KEY] : []), ...(on.phones ? [PHONE_KEY] : [])];
  const keyPattern = new RegExp(
    `(?:${[...KEY_FRAGMENTS, ...extra].join('|')})|(?:^|[^a-z0-9])(?:${KEY_WORDS.join('|')})(?:$|[^a-z0-9])` +
      (lastWords.length > 0 ? `|(?:^|[^a-z0-9])(?:${lastWords.join('|')})$` : ''),
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
    const at = out.includes('@');
    if (at) out = out.replace(USERINFO, `$1${REDACTED}@`);
    if (on.emails && (at || out.includes('%40'))) out = out.replace(EMAIL, REDACTED);
    if (AUTH_SCHEME.test(out)) out = out.replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`);
    if (out.includes('=')) out = out.replace(queryParam, `$1${REDACTED}`);
    // One scan decides for the three classes made of digits.
    if ((on.phones && out.includes('+')) || DIGIT_CLASSES.test(out)) {
      if (CARD_RUN.test(out)) out = out.replace(CARD, (digits) => (luhn(digits) ? REDACTED : digits));
      if (on.ssns) out = out.replace(SSN, REDACTED);
      if (on.phones) out = out.replace(PHONE, phoneOrNot);
    }
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
    // Bytes (Buffers, the Uint8Array an OTLP body may be) and dates are values, not maps to walk.
    if (value instanceof Date || ArrayBuffer.isView(value)) return value;
    if (value instanceof Error) return redactError(value, depth) as T;
    // for…in rather than Object.entries: no array per entry, on a path every app log line takes.
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key in source) {
      if (!Object.hasOwn(source, key)) continue;
      const v = source[key];
      out[key] = isSensitiveKey(key) ? REDACTED : typeof v === 'string' ? redactString(v) : v === null || typeof v !== 'object' ? v : redactValue(v, depth + 1);
    }
    return out as T;
  }

  /**
   * The error as the app made it (same prototype, so `instanceof` and its name hold, own enumerable fields
   * redacted like any object's), with message, stack and cause redacted: messages quote the values that failed.
   */
  function redactError(error: Error, depth: number): Error {
    const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
    for (const [key, v] of Object.entries(error)) {
      (copy as unknown as Record<string, unknown>)[key] = isSensitiveKey(key) ? REDACTED : redactValue(v, depth + 1);
    }
    // Own but not enumerable, as on the original, so a JSON rendering of the copy is the same shape.
    for (const key of ['message', 'stack', 'cause'] as const) {
      if (!Object.hasOwn(error, key) || Object.prototype.propertyIsEnumerable.call(error, key)) continue;
      Object.defineProperty(copy, key, { value: redactValue(error[key], depth + 1), writable: true, configurable: true, enumerable: false });
    }
    return copy;
  }

  return { isSensitiveKey, redactString, redactAttributesInPlace, redactValue };
}

/** A phone-shaped match with a plausible number of digits becomes REDACTED; anything else stays as written. */
function phoneOrNot(match: string): string {
  let digits = 0;
  for (let i = 0; i < match.length; i++) {
    const c = match.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  if (match.charCodeAt(0) === 43 /* + */) return digits >= 8 && digits <= 15 ? REDACTED : match;
  return digits >= 9 && digits <= 11 ? REDACTED : match;
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

// On globalThis: the preload and the library half of this package are separate bundles, and both must use
// the policy the preload built from its configuration.
const kProcessPolicy = Symbol.for('lookout.redaction.policy');
type Holder = typeof globalThis & { [kProcessPolicy]?: RedactionPolicy };

/**
 * The process-wide policy: the agent's when it runs (installRedactionPolicy), otherwise built on first use
 * from LOOKOUT_REDACT_KEYS, LOOKOUT_REDACT_EMAILS, LOOKOUT_REDACT_PHONES and LOOKOUT_REDACT_SSNS.
 */
export function redactionPolicy(): RedactionPolicy {
  const holder = globalThis as Holder;
  if (holder[kProcessPolicy] === undefined) {
    const { keys, classes } = redactionSettings();
    holder[kProcessPolicy] = createRedactionPolicy(keys, classes);
  }
  return holder[kProcessPolicy];
}

/**
 * Builds the agent's policy and makes it the process-wide one, so loggers, the pino and winston hooks and
 * the audit scrubbing apply the very policy the span and log processors do, and the environment is read
 * (and a bad value warned about) once.
 */
export function installRedactionPolicy(extraKeys: readonly string[], classes: RedactionClasses): RedactionPolicy {
  const policy = createRedactionPolicy(extraKeys, classes);
  (globalThis as Holder)[kProcessPolicy] = policy;
  return policy;
}
