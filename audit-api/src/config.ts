// The environment → one typed audit-api config. Unlike the agent, a bad value here stops the service at
// start: an audit log that silently falls back to a default key or an open door is worse than one that is down.
import { parseSigningKey, type SigningKey } from './seal/keys.js';

/**
 * Scopes granted by the roles an identity provider puts in its tokens (LOOKOUT_AUDIT_ROLE_SCOPES), read from the
 * claim LOOKOUT_AUDIT_ROLES_CLAIM (a dotted path for a nested claim such as Keycloak's realm_access.roles).
 */
export interface RoleMapping {
  claim: string;
  scopes: ReadonlyMap<string, readonly string[]>;
}

/** The scopes the API checks; a role mapping naming any other is a typo, refused at start. */
export const KNOWN_SCOPES = ['activity:read', 'activity:write'] as const;

/**
 * Admins and auditors read by default (the requirements: activity:read, "admins by default"). No role writes by
 * default: events are written by services with the scope in their own token, and a person who can write
 * could add events to the trail they are audited by.
 */
export const DEFAULT_ROLE_SCOPES = 'admin=activity:read,auditor=activity:read';

export type AuthConfig = (
  | {
      mode: 'hs256';
      secret: Uint8Array;
      /** The secret being rotated out: tokens signed with it still verify until it is removed. */
      previousSecret?: Uint8Array;
      issuer?: string;
      audience?: string;
    }
  | {
      mode: 'jwks';
      jwksUrl: URL;
      issuer: string;
      audience: string;
      algorithms: string[];
      /** After a fetch, how long a token with an unknown kid is refused before the key set is fetched again. */
      cooldownMs: number;
    }
) & {
  /** Absent: DEFAULT_ROLE_SCOPES from the `roles` claim. */
  roles?: RoleMapping;
};

export interface AuditConfig {
  /** Undefined: run on embedded PGlite (for trying the API, not for production). */
  databaseUrl: string | undefined;
  port: number;
  host: string;
  auth: AuthConfig;
  ipHmacKey: Buffer;
  /** Signs pagination cursors so a forged or another tenant's cursor is refused. */
  cursorKey: Buffer;
  /** The cursor key being rotated out: cursors it signed are still accepted until it is removed. */
  previousCursorKey: Buffer | undefined;
  /** Data directory of the embedded PGlite (no DATABASE_URL); in memory when undefined. */
  pgliteDir: string | undefined;
  migrate: boolean;
  trustProxy: boolean;
  retentionDays: number;
  retentionIntervalMs: number;
  /** Rows per DELETE when trimming the partly expired month. */
  retentionBatchSize: number;
  /** Per tenant, per replica: sustained requests per second and burst. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  sseHeartbeatMs: number;
  /** Events a slow SSE subscriber may have queued before it is disconnected (it resumes with Last-Event-ID). */
  sseMaxQueuedEvents: number;
  /** Tenant under which rejected tokens are recorded: a rejected token's own tenant claim is unverified. */
  systemTenant: string;
  poolMax: number;
  /** Ingest transactions at once, per replica (more requests wait their turn in the process). */
  writeConcurrency: number;
  /** Tamper evidence (src/seal/): undefined when sealing is off. */
  sealing: SealingConfig | undefined;
}

export interface SealingConfig {
  /** LOOKOUT_AUDIT_SIGNING_KEY: signs the digests; its public key is served at /.well-known/lookout-audit-keys. */
  signingKey: SigningKey;
  /** LOOKOUT_AUDIT_DIGEST_INTERVAL_MS: at most one digest per tenant per interval, when its chain grew. */
  digestIntervalMs: number;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: Env = process.env): AuditConfig {
  const ipHmacKey = env.LOOKOUT_AUDIT_IP_HMAC_KEY;
  if (!ipHmacKey || ipHmacKey.length < 16) {
    throw new ConfigError('LOOKOUT_AUDIT_IP_HMAC_KEY must be set to a secret of at least 16 characters (client IPs are stored only as an HMAC under it)');
  }
  const cursorKey = env.LOOKOUT_AUDIT_CURSOR_KEY || `cursor:${ipHmacKey}`;
  const previousCursorKey = env.LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS || undefined;
  if (previousCursorKey === cursorKey) {
    throw new ConfigError(
      `LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS is the same as the current cursor key${env.LOOKOUT_AUDIT_CURSOR_KEY ? '' : ' (derived from LOOKOUT_AUDIT_IP_HMAC_KEY)'}: set the new key as LOOKOUT_AUDIT_CURSOR_KEY and the old one as LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS`,
    );
  }
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.LOOKOUT_AUDIT_HOST ?? '0.0.0.0',
    auth: { ...authConfig(env), roles: roleMapping(env) },
    ipHmacKey: Buffer.from(ipHmacKey),
    pgliteDir: env.LOOKOUT_AUDIT_PGLITE_DIR || undefined,
    cursorKey: Buffer.from(cursorKey),
    previousCursorKey: previousCursorKey === undefined ? undefined : Buffer.from(previousCursorKey),
    migrate: boolean(env, 'LOOKOUT_AUDIT_MIGRATE', true),
    trustProxy: boolean(env, 'LOOKOUT_AUDIT_TRUST_PROXY', false),
    retentionDays: integer(env, 'LOOKOUT_AUDIT_RETENTION_DAYS', 365, 1, 36_500),
    retentionIntervalMs: integer(env, 'LOOKOUT_AUDIT_RETENTION_INTERVAL_S', 6 * 3600, 10, 7 * 86_400) * 1000,
    retentionBatchSize: integer(env, 'LOOKOUT_AUDIT_RETENTION_BATCH', 5000, 1, 1_000_000),
    rateLimitPerSecond: integer(env, 'LOOKOUT_AUDIT_RATE_LIMIT_RPS', 200, 1, 1_000_000),
    rateLimitBurst: integer(env, 'LOOKOUT_AUDIT_RATE_LIMIT_BURST', 400, 1, 1_000_000),
    sseHeartbeatMs: integer(env, 'LOOKOUT_AUDIT_SSE_HEARTBEAT_MS', 15_000, 100, 300_000),
    sseMaxQueuedEvents: integer(env, 'LOOKOUT_AUDIT_SSE_MAX_QUEUED', 1000, 1, 1_000_000),
    systemTenant: env.LOOKOUT_AUDIT_SYSTEM_TENANT ?? '_system',
    poolMax: integer(env, 'LOOKOUT_AUDIT_DB_POOL_MAX', 10, 1, 200),
    writeConcurrency: integer(env, 'LOOKOUT_AUDIT_WRITE_CONCURRENCY', 2, 1, 200),
    sealing: sealingConfig(env),
  };
}

// Sealing is on when LOOKOUT_AUDIT_SEALING=true, or unset with a signing key given; a key that is set is
// checked either way, so a bad key never waits silently for the day sealing is switched on.
function sealingConfig(env: Env): SealingConfig | undefined {
  const pem = env.LOOKOUT_AUDIT_SIGNING_KEY || undefined;
  let signingKey: SigningKey | undefined;
  if (pem !== undefined) {
    try {
      signingKey = parseSigningKey(pem);
    } catch (err) {
      throw new ConfigError(`LOOKOUT_AUDIT_SIGNING_KEY ${(err as Error).message}`);
    }
  }
  const on = boolean(env, 'LOOKOUT_AUDIT_SEALING', signingKey !== undefined);
  const digestIntervalMs = integer(env, 'LOOKOUT_AUDIT_DIGEST_INTERVAL_MS', 60_000, 100, 86_400_000);
  if (!on) return undefined;
  if (!signingKey) {
    throw new ConfigError('LOOKOUT_AUDIT_SEALING is true but LOOKOUT_AUDIT_SIGNING_KEY is not set: give an Ed25519 private key in PEM (openssl genpkey -algorithm ed25519), or set LOOKOUT_AUDIT_SEALING=false');
  }
  return { signingKey, digestIntervalMs };
}

function authConfig(env: Env): AuthConfig {
  const issuer = env.LOOKOUT_AUDIT_JWT_ISSUER || undefined;
  const audience = env.LOOKOUT_AUDIT_JWT_AUDIENCE || undefined;
  if (env.LOOKOUT_AUDIT_JWKS_URL) {
    if (env.LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS) {
      throw new ConfigError('LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS is for HS256 secrets; with LOOKOUT_AUDIT_JWKS_URL, rotate by publishing the new key in the key set next to the old one (docs/audit-api.md, "Rotating keys")');
    }
    let jwksUrl: URL;
    try {
      jwksUrl = new URL(env.LOOKOUT_AUDIT_JWKS_URL);
    } catch {
      throw new ConfigError(`LOOKOUT_AUDIT_JWKS_URL is not a URL: "${env.LOOKOUT_AUDIT_JWKS_URL}"`);
    }
    if (!issuer || !audience) {
      throw new ConfigError('LOOKOUT_AUDIT_JWKS_URL needs LOOKOUT_AUDIT_JWT_ISSUER and LOOKOUT_AUDIT_JWT_AUDIENCE: tokens from any issuer or for any audience must not pass');
    }
    const algorithms = (env.LOOKOUT_AUDIT_JWT_ALGORITHMS ?? 'RS256,ES256,EdDSA').split(',').map((a) => a.trim()).filter(Boolean);
    const bad = algorithms.find((a) => a === 'none' || a.startsWith('HS'));
    if (bad) throw new ConfigError(`LOOKOUT_AUDIT_JWT_ALGORITHMS must list asymmetric algorithms only with a JWKS; "${bad}" is not allowed`);
    const cooldownMs = integer(env, 'LOOKOUT_AUDIT_JWKS_COOLDOWN_S', 30, 1, 3600) * 1000;
    return { mode: 'jwks', jwksUrl, issuer, audience, algorithms, cooldownMs };
  }
  const secret = env.LOOKOUT_AUDIT_JWT_SECRET;
  if (!secret) throw new ConfigError('set LOOKOUT_AUDIT_JWKS_URL (production) or LOOKOUT_AUDIT_JWT_SECRET (HS256, development)');
  if (secret.length < 32) throw new ConfigError('LOOKOUT_AUDIT_JWT_SECRET must be at least 32 characters (HS256 keys shorter than the hash are brute-forceable)');
  const previous = env.LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS || undefined;
  if (previous !== undefined && previous.length < 32) throw new ConfigError('LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS must be at least 32 characters, as LOOKOUT_AUDIT_JWT_SECRET (unset it when no rotation is under way)');
  if (previous === secret) throw new ConfigError('LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS is the same as LOOKOUT_AUDIT_JWT_SECRET: set the new secret as LOOKOUT_AUDIT_JWT_SECRET and the old one as LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS');
  const encode = (value: string) => new TextEncoder().encode(value);
  return { mode: 'hs256', secret: encode(secret), ...(previous !== undefined ? { previousSecret: encode(previous) } : {}), issuer, audience };
}

/**
 * LOOKOUT_AUDIT_ROLE_SCOPES: `role=scope scope,role=scope` (unset or empty: DEFAULT_ROLE_SCOPES; `none`: roles
 * grant nothing, only the `scope` claim counts). LOOKOUT_AUDIT_ROLES_CLAIM: where the roles are, default `roles`.
 */
export function roleMapping(env: Env): RoleMapping {
  const claim = env.LOOKOUT_AUDIT_ROLES_CLAIM || 'roles';
  if (!/^[A-Za-z0-9_:/-]+(\.[A-Za-z0-9_:/-]+)*$/.test(claim)) {
    throw new ConfigError(`LOOKOUT_AUDIT_ROLES_CLAIM must be a claim name or a dotted path such as realm_access.roles, got "${claim}"`);
  }
  const spec = env.LOOKOUT_AUDIT_ROLE_SCOPES?.trim() || DEFAULT_ROLE_SCOPES;
  const scopes = new Map<string, string[]>();
  if (spec.toLowerCase() === 'none') return { claim, scopes };
  for (const entry of spec.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const role = entry.slice(0, eq).trim();
    const granted = entry.slice(eq + 1).split(/\s+/).filter(Boolean);
    if (eq < 1 || !/^[^\s=,]{1,256}$/.test(role) || granted.length === 0) {
      throw new ConfigError(`LOOKOUT_AUDIT_ROLE_SCOPES entry "${entry}" must be role=scope, several scopes separated by spaces (such as admin=activity:read activity:write)`);
    }
    const unknown = granted.find((scope) => !(KNOWN_SCOPES as readonly string[]).includes(scope));
    if (unknown) throw new ConfigError(`LOOKOUT_AUDIT_ROLE_SCOPES grants "${unknown}" to role "${role}"; the scopes are ${KNOWN_SCOPES.join(', ')}`);
    if (scopes.has(role)) throw new ConfigError(`LOOKOUT_AUDIT_ROLE_SCOPES names role "${role}" twice; list its scopes once, separated by spaces`);
    scopes.set(role, [...new Set(granted)]);
  }
  return { claim, scopes };
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

// The OpenTelemetry spec's boolean, as the agent reads it: case-insensitive "true" or "false", unset or empty
// is the default. Anything else (1, 0, yes) is refused rather than guessed at, as every bad value here is.
function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

export interface RetentionConfig {
  databaseUrl: string;
  retentionDays: number;
  retentionBatchSize: number;
}

/** What `npm run audit:retention` needs: the database and the retention settings, no keys. */
export function loadRetentionConfig(env: Env = process.env): RetentionConfig {
  return {
    databaseUrl: loadDatabaseUrl(env),
    retentionDays: integer(env, 'LOOKOUT_AUDIT_RETENTION_DAYS', 365, 1, 36_500),
    retentionBatchSize: integer(env, 'LOOKOUT_AUDIT_RETENTION_BATCH', 5000, 1, 1_000_000),
  };
}

/** What `npm run migrate` needs: the database only. */
export function loadDatabaseUrl(env: Env = process.env): string {
  if (!env.DATABASE_URL) throw new ConfigError('DATABASE_URL must be set');
  return env.DATABASE_URL;
}
