// PII scrubbing of what an event stores, with the agent's one redaction policy (the same rules as logs and spans).
import { createRedactionPolicy, redactionPolicy, type RedactionPolicy } from '@lookout/agent';

// Each CR or LF becomes one space: stored text reaches log lines, CSV exports and terminals, where a
// newline could forge a record.
const CR_LF = /[\r\n]/g;

export interface ScrubResult {
  value: Record<string, unknown>;
  /** Paths of the keys removed as secrets (`password`, `filters.api_key`, `items[0].token`). */
  removedKeys: string[];
}

/** Credential-looking parts replaced (JWTs, bearer tokens, card numbers, URL secrets), CR/LF neutralised. */
export function scrubText(s: string): string {
  // Newlines first, so "Bearer\n<token>" is seen as the bearer token it is.
  return redactionPolicy().redactString(s.replace(CR_LF, ' '));
}

// Identity fields (who acted, on what) keep e-mail addresses and phone numbers: an audit trail that cannot
// say who did something is worthless to compliance, and an actor id is often an e-mail address. Credentials
// (tokens, card numbers, URL passwords, SSNs) are still replaced there.
let identityPolicy: RedactionPolicy | undefined;

/** scrubText for actor ids, display names and object ids: credentials out, identities kept. */
export function scrubIdentity(s: string): string {
  identityPolicy ??= createRedactionPolicy([], { emails: false, phones: false });
  return identityPolicy.redactString(s.replace(CR_LF, ' '));
}

/**
 * A scrubbed deep copy of event metadata. Keys the policy calls secret are removed, not kept as
 * [REDACTED]: the key name alone can say too much, and an audit record should not suggest it holds a
 * value it does not. Their paths are returned so the caller can record them (parseEvent stores them
 * as `_removed_keys`), and nothing disappears silently. `keep` names top-level keys to spare: fields
 * already validated against a closed set of values, which cannot carry a secret whatever their name.
 * Call it on schema-validated metadata: it recurses without a depth limit.
 */
export function scrubMetadata(value: Record<string, unknown>, keep: ReadonlySet<string> = new Set()): ScrubResult {
  const removedKeys: string[] = [];
  const policy = redactionPolicy();

  function walk(node: unknown, path: string): unknown {
    if (typeof node === 'string') return scrubText(node);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${path}[${i}]`));
    if (node === null || typeof node !== 'object') return node;
    const entries: [string, unknown][] = [];
    for (const [rawKey, child] of Object.entries(node)) {
      const key = rawKey.replace(CR_LF, ' ');
      const childPath = path ? `${path}.${key}` : key;
      if (policy.isSensitiveKey(key) && !(path === '' && keep.has(key))) {
        removedKeys.push(childPath);
        continue;
      }
      entries.push([key, walk(child, childPath)]);
    }
    // fromEntries defines own properties, so a "__proto__" key stays data instead of a prototype.
    return Object.fromEntries(entries);
  }

  return { value: walk(value, '') as Record<string, unknown>, removedKeys };
}
