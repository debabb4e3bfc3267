// Environment → typed settings for every example service, validated once at start with clear messages.
// The agent reads its own variables (OTEL_*, LOOKOUT_AUDIT_URL); these are the services' own.
import { hkdfSync } from 'node:crypto';

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** Where a value that is ignored rather than refused is reported: the service's logger. */
export type Warn = (message: string) => void;

export interface Listen {
  host: string;
  port: number;
  /** PUT /admin/fault and its middleware are mounted only when FAULT_INJECTION=true. */
  faultInjection: boolean;
}

export interface ApiKey {
  tenant: string;
  user: string;
}

export interface GatewayConfig extends Listen, AuditSettings {
  runsUrl: URL;
  /** API key → the tenant and user it stands for. */
  apiKeys: Map<string, ApiKey>;
  upstreamTimeoutMs: number;
  /**
   * Keys the HMAC-SHA256 that names an API key in audit events and logs (key_id), never the key itself:
   * API_KEY_HMAC_KEY, or derived (HKDF) from LOOKOUT_AUDIT_JWT_SECRET when that is unset.
   */
  apiKeyHmacKey: Buffer | undefined;
  /** Per API key, per replica: sustained requests per second and burst (429 rate_limited beyond them). */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** A key's successful authentication is recorded once per this interval, not per request. */
  acceptedEveryMs: number;
  /** Refusals of the same key for the same reason are recorded once per this interval, with a count of repeats. */
  refusedEveryMs: number;
  /** Tenant under which refusals of unknown keys are recorded (they have no tenant of their own). */
  systemTenant: string;
}

/** Where a service records audit events: the audit API's HS256 secret signs its per-tenant tokens. */
export interface AuditSettings {
  /** Signs the per-tenant tokens the audit client sends (the audit API's HS256 secret). */
  auditJwtSecret: string | undefined;
  /** The agent's LOOKOUT_AUDIT_URL, for /health/dependencies; the audit client reports a malformed one itself. */
  auditUrl: URL | undefined;
}

export interface RunsConfig extends Listen, AuditSettings {
  databaseUrl: string;
  workerUrl: URL;
}

export interface WorkerConfig extends Listen, AuditSettings {
  runsUrl: URL;
  concurrency: number;
  maxQueued: number;
  /** Simulated work per run: uniformly between these, in ms. */
  workMs: [number, number];
  /** Share of runs that fail as a business outcome (workflow.run.failed), not as an HTTP error. */
  failureRatio: number;
}

export interface TrafficConfig {
  gatewayUrl: URL;
  /** Where `inject` finds each service's /admin/fault. */
  serviceUrls: Record<string, URL>;
  ratePerSecond: number;
  apiKeys: string[];
}

export const DEMO_API_KEYS = 'demo-key-acme:acme:alice,demo-key-globex:globex:bob';

export function gatewayConfig(warn: Warn, env: Env = process.env): GatewayConfig {
  const audit = auditSettings(env);
  const hmacKey = env.API_KEY_HMAC_KEY || undefined;
  if (hmacKey !== undefined && hmacKey.length < 16) throw new ConfigError('API_KEY_HMAC_KEY must be a secret of at least 16 characters (API keys are named by an HMAC under it)');
  return {
    ...listen(env, 8081, warn),
    ...audit,
    runsUrl: url(env, 'RUNS_URL', 'http://127.0.0.1:8082'),
    apiKeys: apiKeys(env.API_KEYS ?? DEMO_API_KEYS),
    upstreamTimeoutMs: int(env, 'UPSTREAM_TIMEOUT_MS', 10_000, 1),
    apiKeyHmacKey: hmacKey !== undefined ? Buffer.from(hmacKey) : audit.auditJwtSecret !== undefined ? derivedKey(audit.auditJwtSecret) : undefined,
    rateLimitPerSecond: number(env, 'GATEWAY_RATE_LIMIT_RPS', 50, 0.01, 1_000_000),
    rateLimitBurst: int(env, 'GATEWAY_RATE_LIMIT_BURST', 100, 1, 1_000_000),
    acceptedEveryMs: int(env, 'GATEWAY_AUDIT_ACCEPTED_INTERVAL_S', 900, 0, 86_400) * 1000,
    refusedEveryMs: int(env, 'GATEWAY_AUDIT_REFUSED_INTERVAL_S', 60, 0, 86_400) * 1000,
    systemTenant: env.LOOKOUT_AUDIT_SYSTEM_TENANT || '_system',
  };
}

/** A key for naming API keys, separate from the token secret it comes from (HKDF with its own label). */
function derivedKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', 'lookout gateway api key id', 32));
}

export function runsConfig(warn: Warn, env: Env = process.env): RunsConfig {
  return {
    ...listen(env, 8082, warn),
    ...auditSettings(env),
    databaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    workerUrl: url(env, 'WORKER_URL', 'http://127.0.0.1:8083'),
  };
}

function auditSettings(env: Env): AuditSettings {
  const secret = env.LOOKOUT_AUDIT_JWT_SECRET || undefined;
  if (secret !== undefined && secret.length < 32) throw new ConfigError('LOOKOUT_AUDIT_JWT_SECRET must be at least 32 characters, as the audit API requires');
  return {
    auditJwtSecret: secret,
    auditUrl: env.LOOKOUT_AUDIT_URL && URL.canParse(env.LOOKOUT_AUDIT_URL) ? new URL(env.LOOKOUT_AUDIT_URL) : undefined,
  };
}

export function workerConfig(warn: Warn, env: Env = process.env): WorkerConfig {
  const workMs = (env.WORKER_WORK_MS ?? '20-200').split('-').map(Number);
  if (workMs.length !== 2 || !workMs.every((n) => Number.isInteger(n) && n >= 0) || workMs[0]! > workMs[1]!) {
    throw new ConfigError(`WORKER_WORK_MS="${env.WORKER_WORK_MS}" must be a range of milliseconds such as 20-200`);
  }
  return {
    ...listen(env, 8083, warn),
    ...auditSettings(env),
    runsUrl: url(env, 'RUNS_URL', 'http://127.0.0.1:8082'),
    concurrency: int(env, 'WORKER_CONCURRENCY', 4, 1),
    maxQueued: int(env, 'WORKER_MAX_QUEUED', 1000, 1),
    workMs: workMs as [number, number],
    failureRatio: ratio(env, 'WORKER_FAILURE_RATIO', 0.02),
  };
}

export function alertWebhookConfig(warn: Warn, env: Env = process.env): Listen {
  return listen(env, 9095, warn);
}

export function trafficConfig(env: Env = process.env): TrafficConfig {
  return {
    gatewayUrl: url(env, 'GATEWAY_URL', 'http://127.0.0.1:8081'),
    serviceUrls: {
      gateway: url(env, 'GATEWAY_URL', 'http://127.0.0.1:8081'),
      runs: url(env, 'RUNS_URL', 'http://127.0.0.1:8082'),
      worker: url(env, 'WORKER_URL', 'http://127.0.0.1:8083'),
    },
    ratePerSecond: number(env, 'TRAFFIC_RPS', 5, 0.1, 1000),
    apiKeys: [...apiKeys(env.API_KEYS ?? DEMO_API_KEYS).keys()],
  };
}

function listen(env: Env, defaultPort: number, warn: Warn): Listen {
  return { host: env.HOST ?? '0.0.0.0', port: int(env, 'PORT', defaultPort, 0, 65_535), faultInjection: flag(env, 'FAULT_INJECTION', warn) };
}

// The OpenTelemetry spec's boolean, as the agent reads it: true only for case-insensitive "true"; "false",
// empty or unset is false; anything else (1, 0, yes) warns and is false, the spec's rule for a bad value.
function flag(env: Env, name: string, warn: Warn): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  warn(`${name}="${env[name]}" is not "true" or "false"; the default false is used`);
  return false;
}

function url(env: Env, name: string, fallback: string): URL {
  const value = env[name] ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name}="${value}" is not a URL such as ${fallback}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`${name}="${value}" must be an http(s) URL`);
  return parsed;
}

function number(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) throw new ConfigError(`${name}="${raw}" must be a number from ${min} to ${max}`);
  return value;
}

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = number(env, name, fallback, min, max);
  if (!Number.isInteger(value)) throw new ConfigError(`${name}="${env[name]}" must be a whole number`);
  return value;
}

function ratio(env: Env, name: string, fallback: number): number {
  return number(env, name, fallback, 0, 1);
}

/** `key:tenant:user,key:tenant:user` */
function apiKeys(spec: string): Map<string, ApiKey> {
  const keys = new Map<string, ApiKey>();
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [key, tenant, user, ...rest] = entry.split(':');
    if (!key || !tenant || !user || rest.length > 0 || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(tenant)) {
      throw new ConfigError(`API_KEYS entry "${entry}" must be key:tenant:user, the tenant in lower case (a-z, 0-9, _ and -)`);
    }
    keys.set(key, { tenant, user });
  }
  if (keys.size === 0) throw new ConfigError('API_KEYS names no key');
  return keys;
}
