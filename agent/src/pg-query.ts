// One pg query in flight: its span, start time and what db.client.operation.duration needs, in one object,
// and the three ways pg reports the end of a query (callback, promise, Submittable) leading to finish().
import { context, SpanKind, type Attributes, type Context, type Histogram, type Span, type Tracer } from '@opentelemetry/api';
import { recordDbError } from './db-errors.js';
import { kCollectionHint, type HandoffConnection } from './knex-pg-handoff.js';
import { summarizeSql } from './sql-summary.js';

export interface PgClient extends HandoffConnection {
  connectionParameters?: { host?: string; port?: number; database?: string };
}

/** A query config object or a Submittable (pg.Query, pg-cursor, pg-copy-streams…). */
export interface QueryConfig {
  text?: unknown;
  name?: unknown;
  callback?: unknown;
  submit?: unknown;
  handleReadyForQuery?: (...args: unknown[]) => unknown;
  handleError?: (...args: unknown[]) => unknown;
  /** pg.Query: an error seen before ReadyForQuery, reported from handleReadyForQuery. */
  _canceledDueToError?: unknown;
}

type Callback = (this: unknown, err: unknown, result: unknown) => unknown;

export class PgQuery {
  private done = false;
  private readonly start = performance.now();

  constructor(
    private readonly span: Span,
    /** The caller's context: callbacks and Submittable events run in it, as upstream binds them. */
    private readonly parent: Context,
    private readonly duration: Histogram,
    private readonly namespace: string | undefined,
    private readonly operation: string | undefined,
    private readonly collection: string | undefined,
    private readonly address: string | undefined,
    private readonly port: number | undefined,
  ) {}

  finish(err: unknown): void {
    if (this.done) return;
    this.done = true;
    const seconds = (performance.now() - this.start) / 1000;
    // The stable metric attributes; never the query text.
    const attributes: Attributes = { 'db.system.name': 'postgresql' };
    if (this.namespace !== undefined) attributes['db.namespace'] = this.namespace;
    if (this.operation !== undefined) attributes['db.operation.name'] = this.operation;
    if (this.collection !== undefined) attributes['db.collection.name'] = this.collection;
    if (this.address !== undefined) attributes['server.address'] = this.address;
    if (this.port !== undefined) attributes['server.port'] = this.port;
    if (err !== undefined && err !== null) recordDbError(this.span, err, attributes);
    this.duration.record(seconds, attributes);
    this.span.end();
  }

  /** pg calls a query's callback from its socket's context; restore the caller's, as upstream does. */
  wrapCallback(callback: Callback): Callback {
    const query = this;
    return function (this: unknown, err, result) {
      query.finish(err);
      return context.with(query.parent, callback, this, err, result);
    };
  }

  /** Settles like `result`; a rejection nobody handles stays unhandled. */
  watchPromise(result: unknown): unknown {
    if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') {
      this.finish(undefined);
      return result;
    }
    return (result as PromiseLike<unknown>).then(
      (value) => {
        this.finish(undefined);
        return value;
      },
      (err: unknown) => {
        this.finish(err);
        throw err;
      },
    );
  }

  /**
   * A Submittable reports its end to the client's calls of handleReadyForQuery / handleError, whether it
   * has a callback (pg.Query with one, pg-copy-streams) or emits events (pg.Query, pg-cursor). Adding an
   * 'error' listener instead would swallow errors the app never listened for.
   */
  watchSubmittable(submittable: QueryConfig): void {
    const query = this;
    const onReady = submittable.handleReadyForQuery;
    const onError = submittable.handleError;
    if (typeof onReady === 'function') {
      submittable.handleReadyForQuery = function (this: QueryConfig, ...args: unknown[]) {
        query.finish(this._canceledDueToError || undefined);
        return context.with(query.parent, onReady, this, ...args);
      };
    }
    if (typeof onError === 'function') {
      submittable.handleError = function (this: QueryConfig, err: unknown, ...args: unknown[]) {
        query.finish(err ?? new Error('query failed'));
        return context.with(query.parent, onError, this, err, ...args);
      };
    }
  }
}

/**
 * Starts the CLIENT span of a query. Named `{db.operation.name} {db.collection.name}`, or whichever is
 * known, else `postgresql`, per the stable conventions; upstream 0.77 names it `pg.query:{OPERATION} {db}`
 * (or `pg.query:{prepared statement name} {db}`), which the conventions no longer describe.
 */
export function startQuery(tracer: Tracer, duration: Histogram, client: PgClient, config: unknown, parent: Context): PgQuery {
  const params = client.connectionParameters;
  const text = typeof config === 'string' ? config : (config as QueryConfig).text;
  const sql = typeof text === 'string' ? text : undefined;
  const summary = sql !== undefined ? summarizeSql(sql) : undefined;
  const operation = summary?.operation;
  // The table knex's builder named, when knex is the caller: better than a parse (it survives joins).
  const hint = client[kCollectionHint];
  const collection = hint ?? summary?.collection;
  const name = hint === undefined ? (summary?.name ?? 'postgresql') : operation !== undefined ? `${operation} ${hint}` : hint;
  const port = Number.isInteger(params?.port) ? params!.port : undefined;
  const plan = typeof config === 'object' && typeof (config as QueryConfig).name === 'string' ? ((config as QueryConfig).name as string) : undefined;
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT }, parent);
  // Set after creation rather than passed to startSpan: the SDK cleans creation attributes twice (for the
  // sampler, then for the span) and the agent's samplers (config.ts) never read them; an unsampled query
  // then costs no attribute work at all. One shape for every query; the SDK drops undefined values.
  if (span.isRecording()) {
    span.setAttributes({
      'db.system.name': 'postgresql',
      'db.namespace': params?.database,
      'db.operation.name': operation,
      'db.collection.name': collection,
      'db.query.text': sql,
      'server.address': params?.host,
      'server.port': port,
      // Upstream's name for a prepared statement's name; kept so dashboards built on it still work.
      'db.postgresql.plan': plan,
    });
  }
  return new PgQuery(span, parent, duration, params?.database, operation, collection, params?.host, port);
}
