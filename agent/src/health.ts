// The health endpoints every Lookout service answers, one implementation: GET /health (the process answers),
// /health/db (the database round trip) and /health/dependencies (each dependency, 503 when a required one is
// down). A framework-neutral core plus a Koa-style `(ctx, next)` middleware typed by shape, so the agent needs no Koa.
import { serviceVersion } from './config.js';

/** A check passes by resolving; what it resolves to (if anything) is shown next to its status. */
export type HealthDetail = Record<string, string | number | boolean>;

export interface HealthCheck {
  name: string;
  /** A required dependency that is down makes /health/dependencies answer 503 `degraded`. */
  required: boolean;
  /** Resolves when the dependency answers; rejects (or outlives its timeout) when it does not. */
  check: (signal: AbortSignal) => Promise<void | HealthDetail>;
}

export interface HealthOptions {
  /** Defaults to the service.version the agent reports: OTEL_RESOURCE_ATTRIBUTES, else the app's package.json. */
  version?: string;
  /** The service's own database: answers /health/db and is listed as the required dependency `database`. */
  database?: HealthCheck['check'];
  dependencies?: HealthCheck[];
  /** How long one check may take before it counts as down. */
  timeoutMs?: number;
}

export interface DependencyStatus {
  status: 'up' | 'down';
  required: boolean;
  latency_ms: number;
  error?: string;
  [detail: string]: string | number | boolean | undefined;
}

export interface LivenessBody {
  status: 'ok';
  version: string;
  timestamp: string;
  uptime_seconds: number;
}

export interface DatabaseBody {
  status: 'ok' | 'unavailable';
  /** 'none' for a service without a database of its own. */
  database: { status: 'up' | 'down'; latency_ms: number; error?: string } | 'none';
}

export interface DependenciesBody {
  status: 'ok' | 'degraded';
  dependencies: Record<string, DependencyStatus>;
}

export interface HealthAnswer<B> {
  httpStatus: 200 | 503;
  body: B;
}

/** The part of a Koa context the middleware uses; Koa's own Context fits it. */
export interface HealthContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

export type HealthMiddleware = (ctx: HealthContext, next: () => Promise<unknown>) => Promise<void>;

export interface Health {
  liveness(): LivenessBody;
  database(): Promise<HealthAnswer<DatabaseBody>>;
  dependencies(): Promise<HealthAnswer<DependenciesBody>>;
  /** Answers GET and HEAD on the three paths; everything else goes on to `next`. */
  readonly middleware: HealthMiddleware;
}

export const HEALTH_TIMEOUT_MS = 2000;
const ERROR_CHARS = 200;

export function createHealth(options: HealthOptions = {}): Health {
  const version = options.version ?? serviceVersion() ?? 'unknown';
  const timeoutMs = options.timeoutMs ?? HEALTH_TIMEOUT_MS;
  const checks: HealthCheck[] = [
    ...(options.database ? [{ name: 'database', required: true, check: options.database }] : []),
    ...(options.dependencies ?? []),
  ];
  const names = new Set<string>();
  for (const { name } of checks) {
    if (names.has(name)) throw new Error(`health check "${name}" is registered twice${name === 'database' ? ' (options.database is already listed as "database")' : ''}`);
    names.add(name);
  }

  const health: Health = {
    liveness: () => ({ status: 'ok', version, timestamp: new Date().toISOString(), uptime_seconds: Math.floor(process.uptime()) }),

    async database() {
      // A service without a database answers 200 `database: 'none'` rather than 404: a probe configured the
      // same way for every service then reads "nothing to be down" instead of a missing route, and a 404
      // could not be told apart from a proxy that routes /health/db nowhere.
      if (!options.database) return { httpStatus: 200, body: { status: 'ok', database: 'none' } };
      const { status, latency_ms, error } = await run(options.database, timeoutMs);
      return {
        httpStatus: status === 'up' ? 200 : 503,
        body: { status: status === 'up' ? 'ok' : 'unavailable', database: { status, latency_ms, ...(error ? { error } : {}) } },
      };
    },

    async dependencies() {
      const results = await Promise.all(checks.map(async ({ name, required, check }) => ({ name, required, ...(await run(check, timeoutMs)) })));
      const dependencies: Record<string, DependencyStatus> = {};
      for (const { name, required, status, latency_ms, error, detail } of results) {
        dependencies[name] = { ...detail, status, required, latency_ms, ...(error ? { error } : {}) };
      }
      const degraded = results.some((r) => r.required && r.status === 'down');
      return { httpStatus: degraded ? 503 : 200, body: { status: degraded ? 'degraded' : 'ok', dependencies } };
    },

    middleware: async (ctx, next) => {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return void (await next());
      let answer: HealthAnswer<unknown>;
      if (ctx.path === '/health') answer = { httpStatus: 200, body: health.liveness() };
      else if (ctx.path === '/health/db') answer = await health.database();
      else if (ctx.path === '/health/dependencies') answer = await health.dependencies();
      else return void (await next());
      // Probes must see the state now, never a cached answer. Koa sends no body for HEAD.
      ctx.set('cache-control', 'no-store');
      ctx.status = answer.httpStatus;
      ctx.body = answer.body;
    },
  };
  return health;
}

interface CheckResult {
  status: 'up' | 'down';
  latency_ms: number;
  error?: string;
  detail?: HealthDetail;
}

/** Runs one check within `timeoutMs`; its error message goes out truncated, never its stack. */
async function run(check: HealthCheck['check'], timeoutMs: number): Promise<CheckResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`no answer within ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  const start = performance.now();
  try {
    const detail = await Promise.race([check(controller.signal), timedOut]);
    return { status: 'up', latency_ms: round(performance.now() - start), ...(detail ? { detail } : {}) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { status: 'down', latency_ms: round(performance.now() - start), error: (message || 'failed').slice(0, ERROR_CHARS) };
  } finally {
    clearTimeout(timer);
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
