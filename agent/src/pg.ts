// pg (node-postgres): one CLIENT span per query with the stable database conventions, the
// db.client.operation.duration histogram and pg-pool's connection gauges. Replaces
// @opentelemetry/instrumentation-pg 0.77 (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=pg brings it back), which builds
// three promises and several closures per query; this is one state object (pg-query.ts) and one closure.
// Measured here (local PostgreSQL 15, 11 interleaved rounds of 4000 queries, per-round medians): pool.query
// +26 µs CPU per query over no agent against upstream's +37 µs; knex over pg +23 µs against +66 µs for
// upstream's two spans. With exporters off, pg alone is on a par (+16.5 against +18 µs): the SDK's span and
// export work is most of the cost, which is why one span per call matters more than the wrapper.
//
// Same as upstream: span kind CLIENT, parent = the active context at client.query(), attributes
// db.system.name, db.namespace, db.query.text (the text as given; parameter values never), server.address,
// server.port, db.postgresql.plan; callbacks run in the caller's context; the histogram's name, unit,
// buckets and attributes; pool.query() yields one span (pg-pool runs it through client.query()).
// Deliberate differences, each the conventions' way or a fix:
// - span name `{db.operation.name} {db.collection.name}` (see pg-query.ts) instead of `pg.query:SELECT db`;
// - db.operation.name and db.collection.name (sql-summary.ts, or knex's table) on the span, not only on the
//   metric; db.collection.name and db.response.status_code on the metric too;
// - on an error: error.type (the SQLSTATE, or ECONNREFUSED…) and db.response.status_code on the span and
//   the metric whether the query used a callback or a promise (upstream: metric only, callbacks only), and an
//   exception event with type and message, not upstream's "PostgreSQL error of type 'error' occurred";
//   messages that quote values are withheld (db-errors.ts), where upstream puts them in the status;
// - a Submittable without a callback (pg.Query with events, pg-cursor) gets a span that ends; upstream's
//   never ends, so it is never exported;
// - no connect spans (the agent runs upstream with ignoreConnectSpans too), except one `pg.connect` span
//   with the error when a connection attempt fails: otherwise a refused connection leaves no database span;
// - db.client.connection.create_time (s) for every connection a Client opens, with error.type when it
//   fails: a refused connection never reaches a query, so without it db.client.operation.duration would
//   not show the failure (the DatabaseConnectionFailures alert reads both). Upstream records none;
// - nothing at all under a suppressed context (isTracingSuppressed), metric included;
// - attributes are set just after the span starts, not passed to startSpan (see pg-query.ts);
// - a callback runs in the caller's context even when there is no parent span (upstream binds it only under
//   one, leaving it in the context of whichever request opened the connection).
import { context, SpanKind, type Attributes, type Context, type Histogram } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { recordDbError } from './db-errors.js';
import { kPgTracing } from './knex-pg-handoff.js';
import { onModuleLoad } from './module-hook.js';
import { registerPoolMetrics, trackPool, type PgPool } from './pg-pool-metrics.js';
import { startQuery, type PgClient, type QueryConfig } from './pg-query.js';
import { AGENT_VERSION } from './version.js';

// `any`: pg's own methods, called with whatever the app passed.
type AnyFunction = (this: any, ...args: any[]) => any;
interface PgClientClass {
  prototype: { query: AnyFunction; connect: AnyFunction; [kClientPatched]?: true };
}
interface PgPoolClass {
  prototype: { newClient?: AnyFunction; [kPoolPatched]?: true };
}
interface PgModule {
  Client?: PgClientClass;
  native?: PgModule | null;
}

const kClientPatched = Symbol.for('lookout.pgClientPatched');
const kPoolPatched = Symbol.for('lookout.pgPoolPatched');

export class PgInstrumentation extends InstrumentationBase {
  // `declare`: set from the base constructor (through _updateMetricInstruments), which a field
  // initializer would overwrite.
  declare private duration: Histogram;
  declare private createTime: Histogram;
  private hooked = false;

  constructor() {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super('@lookout/agent/pg', AGENT_VERSION, { enabled: false });
  }

  protected override _updateMetricInstruments(): void {
    this.duration = this.meter.createHistogram('db.client.operation.duration', {
      description: 'Duration of database client operations.',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
    });
    this.createTime = this.meter.createHistogram('db.client.connection.create_time', {
      description: 'The time it took to create a new connection.',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
    });
    registerPoolMetrics(this.meter);
  }

  protected init() {
    return []; // no loader hook: module-hook.ts hands us pg and pg-pool as they load
  }

  override enable(): void {
    super.enable(); // sets _enabled, which every wrapper checks first
    if (this.hooked) return;
    this.hooked = true;
    // pg's ESM entry re-exports lib/index.js, which module-hook.ts sees load either way; pg-pool is
    // required by it (or by the app) under its bare name.
    onModuleLoad('pg', 'lib/index.js', true, (pg) => this.patchPg(pg as PgModule));
    onModuleLoad('pg-pool', 'index.js', true, (Pool) => patchPool(Pool as PgPoolClass));
  }

  // The patches stay and pass straight through while disabled.
  override disable(): void {
    super.disable();
  }

  private patchPg(pg: PgModule): void {
    this.patchClient(pg.Client);
    // pg.native loads pg-native on first read (and is null without it): wrap the getter rather than read
    // it, so pg-native is loaded when the app asks, and its Client patched then.
    const native = Object.getOwnPropertyDescriptor(pg, 'native');
    if (native?.get && native.configurable) {
      const instrumentation = this;
      Object.defineProperty(pg, 'native', {
        configurable: true,
        enumerable: native.enumerable ?? false,
        get(this: PgModule) {
          // pg's getter replaces itself with the value, so this runs once.
          const value = native.get!.call(this) as PgModule | null;
          instrumentation.patchClient(value?.Client);
          return value;
        },
      });
    } else {
      this.patchClient((native?.value as PgModule | null | undefined)?.Client);
    }
  }

  /** Wraps Client.prototype.query and .connect once per class, whichever way the class was reached. */
  private patchClient(Client: PgClientClass | undefined): void {
    const proto = Client?.prototype;
    if (!proto || proto[kClientPatched] || typeof proto.query !== 'function') return;
    proto[kClientPatched] = true;
    proto.query = this.wrapQuery(proto.query);
    if (typeof proto.connect === 'function') proto.connect = this.wrapConnect(proto.connect);
  }

  private wrapQuery(original: AnyFunction): AnyFunction {
    const instrumentation = this;
    const query = function (this: PgClient, config: unknown, values?: unknown, callback?: unknown): unknown {
      // pg throws its own TypeError for a null config: leave that to it.
      if (!instrumentation._enabled || config === null || config === undefined) return original.apply(this, arguments as unknown as unknown[]);
      const parent = context.active();
      if (isTracingSuppressed(parent)) return original.apply(this, arguments as unknown as unknown[]);
      const q = startQuery(instrumentation.tracer, instrumentation.duration, this, config, parent);
      try {
        const cfg = config as QueryConfig;
        if (typeof cfg.submit === 'function') {
          q.watchSubmittable(cfg);
          return original.call(this, config, values, callback);
        }
        if (typeof callback === 'function') return original.call(this, config, values, q.wrapCallback(callback as AnyFunction));
        if (typeof values === 'function') return original.call(this, config, q.wrapCallback(values as AnyFunction));
        if (typeof cfg.callback === 'function') {
          // A copy rather than a change to the caller's object (pg copies it too).
          const copy = Object.assign(Object.create(Object.getPrototypeOf(cfg) as object) as QueryConfig, cfg);
          copy.callback = q.wrapCallback(cfg.callback as AnyFunction);
          return original.call(this, copy, values);
        }
        return q.watchPromise(original.call(this, config, values));
      } catch (err) {
        q.finish(err);
        throw err;
      }
    };
    // Lets knex know its pg queries get their span here (knex-pg-handoff.ts).
    Object.defineProperty(query, kPgTracing, { value: () => instrumentation._enabled });
    return query;
  }

  private wrapConnect(original: AnyFunction): AnyFunction {
    const instrumentation = this;
    return function connect(this: PgClient, callback?: unknown): unknown {
      if (!instrumentation._enabled) return original.apply(this, arguments as unknown as unknown[]);
      const parent = context.active();
      if (isTracingSuppressed(parent)) return original.apply(this, arguments as unknown as unknown[]);
      const client = this;
      const start = performance.now();
      const startTime = performance.timeOrigin + start;
      if (typeof callback === 'function') {
        return original.call(this, function (this: unknown, err: unknown) {
          instrumentation.connected(client, err, start, startTime, parent);
          return (callback as AnyFunction).apply(this, arguments as unknown as unknown[]);
        });
      }
      const result = original.call(this) as PromiseLike<unknown> | undefined;
      if (typeof result?.then !== 'function') return result;
      return result.then(
        (value) => {
          instrumentation.connected(client, undefined, start, startTime, parent);
          return value;
        },
        (err: unknown) => {
          instrumentation.connected(client, err, start, startTime, parent);
          throw err;
        },
      );
    };
  }

  /** Times every connection attempt; a refused or failed one also gets the one connect span we make. */
  private connected(client: PgClient, err: unknown, start: number, startTime: number, parent: Context): void {
    const params = client.connectionParameters;
    const attributes: Attributes = { 'db.client.connection.pool.name': `${params?.host ?? 'unknown_host'}:${params?.port ?? 'unknown_port'}/${params?.database ?? 'unknown_database'}` };
    if (err) this.connectFailed(params, err, startTime, parent, attributes);
    this.createTime.record((performance.now() - start) / 1000, attributes);
  }

  /** A refused or failed connection: the one connect span we make, so the failure shows in the trace. */
  private connectFailed(params: PgClient['connectionParameters'], err: unknown, startTime: number, parent: Context, attributes: Attributes): void {
    const span = this.tracer.startSpan(
      'pg.connect',
      {
        kind: SpanKind.CLIENT,
        startTime,
        attributes: {
          'db.system.name': 'postgresql',
          'db.namespace': params?.database,
          'server.address': params?.host,
          'server.port': Number.isInteger(params?.port) ? params!.port : undefined,
        },
      },
      parent,
    );
    recordDbError(span, err, attributes);
    span.end();
  }
}

/** Pools are found when they open a connection, so the gauges cost nothing per query. */
function patchPool(Pool: PgPoolClass | undefined): void {
  const proto = Pool?.prototype;
  if (!proto || proto[kPoolPatched] || typeof proto.newClient !== 'function') return;
  proto[kPoolPatched] = true;
  const original = proto.newClient;
  proto.newClient = function (this: unknown, ...args: unknown[]) {
    const result = original.apply(this, args);
    trackPool(this as PgPool);
    return result;
  };
}
