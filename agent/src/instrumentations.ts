// Chooses and builds the instrumentations: our default set, limited to the packages the app actually has,
// plus any other @opentelemetry/instrumentation-* package named in OTEL_NODE_ENABLED_INSTRUMENTATIONS.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { IncomingMessage } from 'node:http';
import type { AgentConfig, UpstreamName } from './config.js';
import { setServerSpan } from './request-id.js';
import { warn } from './warn.js';

export interface InstrumentationHooks {
  /** Adds request_id to a record of an app-built winston logger. */
  winstonLogHook(record: Record<string, unknown>): void;
  /** The request id the agent gave an incoming request. */
  requestIdOf(request: IncomingMessage): string | undefined;
}

interface Builtin {
  /** The npm package the app must have for this instrumentation to be worth loading (none for Node core). */
  needs?: string;
  /** Module names the ESM loader hook must intercept for it (ours and upstream's may differ). */
  esm(upstream: Set<UpstreamName>): string[];
  build(hooks: InstrumentationHooks, upstream: Set<UpstreamName>): Promise<Instrumentation[]>;
}

// Ours by default where a profile showed upstream is the cost (docs/benchmarks.md); the upstream one for a
// piece named in LOOKOUT_UPSTREAM_INSTRUMENTATIONS. Diagnostics-channel instrumentations patch nothing, so
// they need no loader hook at all.
const BUILTINS: Record<string, Builtin> = {
  http: {
    esm: (upstream) => (upstream.has('http') ? ['http', 'https', 'node:http', 'node:https'] : []),
    async build(hooks, upstream) {
      if (upstream.has('http')) {
        const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
        return [
          new HttpInstrumentation({
            requestHook: (span, request) => {
              // Server requests only (IncomingMessage has httpVersion, an outgoing ClientRequest has not).
              if (!('httpVersion' in request)) return;
              setServerSpan(request, span); // for traceresponse
              const requestId = hooks.requestIdOf(request);
              if (requestId !== undefined) span.setAttribute('request_id', requestId);
            },
          }),
        ];
      }
      const [{ HttpServerInstrumentation }, { HttpClientInstrumentation }] = await Promise.all([
        import('./http-server.js'),
        import('./http-client.js'),
      ]);
      return [new HttpServerInstrumentation(), new HttpClientInstrumentation()];
    },
  },
  undici: {
    esm: () => [],
    async build(_hooks, upstream) {
      if (upstream.has('undici')) {
        const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
        return [new UndiciInstrumentation()];
      }
      const { UndiciClientInstrumentation } = await import('./undici-client.js');
      return [new UndiciClientInstrumentation()];
    },
  },
  koa: {
    needs: 'koa',
    esm: () => [], // module-hook.ts, not a loader hook
    async build() {
      // Not @opentelemetry/instrumentation-koa: a span per middleware or router layer costs CPU on every
      // request and nobody reads it. Ours puts the route on the server span and adds no spans.
      const { KoaRouteInstrumentation } = await import('./koa-route.js');
      return [new KoaRouteInstrumentation()];
    },
  },
  // The same for Express, Fastify and NestJS: the route and the answered exception on the server span.
  express: {
    needs: 'express',
    esm: () => [], // module-hook.ts, not a loader hook
    async build() {
      const { ExpressRouteInstrumentation } = await import('./express-route.js');
      return [new ExpressRouteInstrumentation()];
    },
  },
  fastify: {
    needs: 'fastify',
    esm: () => [], // Fastify's own diagnostics channel, not a loader hook
    async build() {
      const { FastifyRouteInstrumentation } = await import('./fastify-route.js');
      return [new FastifyRouteInstrumentation()];
    },
  },
  nestjs: {
    needs: '@nestjs/core',
    esm: () => [], // module-hook.ts, not a loader hook (nest-errors.ts says what that leaves out)
    async build() {
      const { NestErrorsInstrumentation } = await import('./nest-errors.js');
      return [new NestErrorsInstrumentation()];
    },
  },
  pg: {
    needs: 'pg',
    esm: (upstream) => (upstream.has('pg') ? ['pg', 'pg-pool'] : []),
    async build(_hooks, upstream) {
      if (upstream.has('pg')) {
        const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
        return [new PgInstrumentation({ ignoreConnectSpans: true })];
      }
      const { PgInstrumentation } = await import('./pg.js');
      return [new PgInstrumentation()];
    },
  },
  knex: {
    needs: 'knex',
    esm: (upstream) => (upstream.has('knex') ? ['knex'] : []),
    async build(_hooks, upstream) {
      if (upstream.has('knex')) {
        const { KnexInstrumentation } = await import('@opentelemetry/instrumentation-knex');
        return [new KnexInstrumentation({ maxQueryLength: 1000 })];
      }
      const { KnexInstrumentation } = await import('./knex.js');
      return [new KnexInstrumentation({ pgSpans: !upstream.has('pg') })];
    },
  },
  winston: {
    needs: 'winston',
    esm: (upstream) => (upstream.has('winston') ? ['winston'] : []),
    async build(hooks, upstream) {
      const { WinstonInstrumentation } = await import('./winston.js');
      if (upstream.has('winston')) {
        const upstreamWinston = await import('@opentelemetry/instrumentation-winston');
        return [
          new upstreamWinston.WinstonInstrumentation({ logHook: (_span, record) => hooks.winstonLogHook(record) }),
          // Upstream correlates and sends the records; the lines are redacted by ours all the same.
          new WinstonInstrumentation({ redactOnly: true }),
        ];
      }
      return [new WinstonInstrumentation({ logHook: hooks.winstonLogHook })];
    },
  },
  pino: {
    needs: 'pino',
    esm: (upstream) => (upstream.has('pino') ? ['pino'] : []),
    async build(_hooks, upstream) {
      const [{ PinoInstrumentation }, { currentRequestId }] = await Promise.all([import('./pino.js'), import('./request-id.js')]);
      if (upstream.has('pino')) {
        const upstreamPino = await import('@opentelemetry/instrumentation-pino');
        return [
          new upstreamPino.PinoInstrumentation({
            logHook: (_span, record) => {
              const requestId = currentRequestId();
              if (requestId !== undefined) record.request_id ??= requestId;
            },
          }),
          // Upstream correlates and sends the records; the lines it parses are redacted by ours all the same.
          new PinoInstrumentation({ requestId: currentRequestId, redactOnly: true }),
        ];
      }
      return [new PinoInstrumentation({ requestId: currentRequestId })];
    },
  },
  'runtime-node': {
    esm: () => [],
    async build() {
      const { RuntimeNodeInstrumentation } = await import('@opentelemetry/instrumentation-runtime-node');
      return [new RuntimeNodeInstrumentation({ monitoringPrecision: 20 })];
    },
  },
};

export interface InstrumentationPlan {
  names: string[];
  /** Module specifiers the ESM loader hook intercepts; everything else loads untouched. */
  esmModules: string[];
  build(hooks: InstrumentationHooks): Promise<Instrumentation[]>;
}

export function planInstrumentations(config: AgentConfig): InstrumentationPlan {
  const requested = config.enabledInstrumentations ?? Object.keys(BUILTINS);
  const names = requested.filter((name) => {
    if (config.disabledInstrumentations.has(name)) return false;
    const builtin = BUILTINS[name];
    // Default set: skip what the app cannot use. Asked-for extras are checked when they are loaded.
    return !builtin?.needs || appHasPackage(config.appDir, builtin.needs);
  });
  const upstream = config.upstreamInstrumentations;
  const esmModules = names.flatMap((name) => BUILTINS[name]?.esm(upstream) ?? [name]);
  return {
    names,
    esmModules: [...new Set(esmModules)],
    async build(hooks) {
      const built = await Promise.all(
        names.map((name) => (BUILTINS[name] ? BUILTINS[name].build(hooks, upstream) : loadExtra(config.appDir, name))),
      );
      return built.flat();
    },
  };
}

/** An instrumentation outside our set: `@opentelemetry/instrumentation-<name>`, installed by the app. */
async function loadExtra(appDir: string, name: string): Promise<Instrumentation[]> {
  const pkg = `@opentelemetry/instrumentation-${name}`;
  try {
    const resolved = createRequire(join(appDir, 'noop.js')).resolve(pkg);
    const mod = (await import(resolved)) as Record<string, unknown>;
    const ctor = Object.entries(mod).find(([key, value]) => key.endsWith('Instrumentation') && typeof value === 'function')?.[1];
    if (!ctor) throw new Error(`${pkg} exports no *Instrumentation class`);
    return [new (ctor as new () => Instrumentation)()];
  } catch (err) {
    warn(`OTEL_NODE_ENABLED_INSTRUMENTATIONS names "${name}", but ${pkg} could not be loaded from the app (${(err as Error).message}); install it in the app to enable it`);
    return [];
  }
}

/** Does `node_modules/<name>` exist in the app's directory or above it? Cheaper than resolving or loading. */
function appHasPackage(appDir: string, name: string): boolean {
  for (let dir = appDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules', name, 'package.json'))) return true;
    if (dirname(dir) === dir) return false;
  }
}
