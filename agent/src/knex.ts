// knex: one span per database call. On pg with our pg instrumentation active, knex makes no span of its
// own (an app measured 116 knex + 117 pg spans for ~116 queries with both upstream instrumentations): it
// hands the table its builder named to the pg span (knex-pg-handoff.ts). On any other driver (sqlite3,
// mysql2…), or when the pg instrumentation is upstream's or off, it makes the one span
// @opentelemetry/instrumentation-knex 0.68 would, so a knex app is never left dark.
//
// Written here rather than delegating to upstream for non-pg clients: upstream patches the same
// Runner.prototype.query and would need a second wrapper to keep it off pg, and it costs a context object
// defined on every query builder (to parent on the builder's creation context) and a URL parse per query.
// Same as upstream: kind CLIENT; the span active while the driver runs (a driver span nests under it);
// db.system.name (mapped from knex's driver), db.namespace, db.collection.name (the builder's table),
// server.address, server.port, db.query.text (knex's SQL with ? placeholders, cut at 1000 characters + "..",
// as the agent configures upstream), knex.version; an error status and exception event without the query
// values knex prefixes to the message. Differences, the conventions' way:
// - name `{db.operation.name} {db.collection.name}` (upstream: `select mydb.users`), and db.operation.name the
//   SQL keyword (SELECT; upstream: knex's method, e.g. `first`, `del`, `raw`);
// - a raw query's collection parsed from its SQL (sql-summary.ts) where upstream reports none;
// - parent: the active context when the query runs (upstream: the context where the builder was made);
// - db.system.name by the conventions' list for every driver (upstream passes e.g. `mysql2` through);
// - error.type and db.response.status_code on errors; no exception stack trace (it repeats the message).
// It records no db.client.operation.duration: the driver's instrumentation (ours or upstream's pg) does.
import { readFileSync } from 'node:fs';
import { sep } from 'node:path';
import { context, SpanKind, trace, type Attributes, type Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { recordDbError } from './db-errors.js';
import { kCollectionHint, tracedByOurPg } from './knex-pg-handoff.js';
import { onModuleLoad } from './module-hook.js';
import { summarizeSql } from './sql-summary.js';
import { AGENT_VERSION } from './version.js';

export interface KnexInstrumentationConfig {
  /** True when our pg instrumentation makes the span for queries knex runs on pg. */
  pgSpans: boolean;
}

interface KnexQuery {
  sql?: unknown;
  bindings?: unknown[];
  method?: unknown;
}
interface KnexClient {
  driverName?: string;
  connectionSettings?: unknown;
  config?: { compileSqlOnError?: boolean };
  _escapeBinding?: (value: unknown, options: { timeZone?: string }) => string;
  [kTarget]?: Target;
}
interface KnexRunner {
  client: KnexClient;
  builder?: { _single?: { table?: unknown } };
  connection?: unknown;
}
type RunnerQuery = (this: KnexRunner, query: KnexQuery) => Promise<unknown>;
interface RunnerClass {
  prototype: { query: RunnerQuery; [kPatched]?: true };
}
interface Target {
  system: string;
  namespace: string | undefined;
  address: string | undefined;
  port: number | undefined;
}

const kPatched = Symbol.for('lookout.knexRunnerQueryPatched');
const kTarget = Symbol('lookout.knexTarget');
const KNEX_DIR = `${sep}node_modules${sep}knex${sep}`;
/** lib/execution/runner.js since knex 0.95, lib/runner.js before. */
const RUNNER_FILES = [['lib', 'execution', 'runner.js'].join(sep), ['lib', 'runner.js'].join(sep)];
const MAX_QUERY_LENGTH = 1000;

export class KnexInstrumentation extends InstrumentationBase {
  private readonly pgSpans: boolean;
  private hooked = false;

  constructor(config: KnexInstrumentationConfig) {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super('@lookout/agent/knex', AGENT_VERSION, { enabled: false });
    this.pgSpans = config.pgSpans;
  }

  protected init() {
    return []; // no loader hook: module-hook.ts tells us when knex loads
  }

  override enable(): void {
    super.enable(); // sets _enabled, which the wrapper checks first
    if (this.hooked) return;
    this.hooked = true;
    // knex's main file, whether required or imported (knex.mjs is not what Node resolves `import 'knex'` to).
    onModuleLoad('knex', 'knex.js', true, () => this.patchLoadedRunners());
  }

  // The patch stays and passes straight through while disabled.
  override disable(): void {
    super.disable();
  }

  /**
   * The Runner is an internal file knex requires by a relative path, which module-hook.ts does not see; by
   * the time knex's main file has loaded it is in the require cache (client.js requires it eagerly).
   */
  private patchLoadedRunners(): void {
    const cache = (process.getBuiltinModule('node:module') as unknown as { _cache: Record<string, { exports: unknown } | undefined> })._cache;
    for (const filename of Object.keys(cache)) {
      const at = filename.lastIndexOf(KNEX_DIR);
      if (at === -1) continue;
      const file = filename.slice(at + KNEX_DIR.length);
      if (file !== RUNNER_FILES[0] && file !== RUNNER_FILES[1]) continue;
      this.patchRunner(cache[filename]?.exports as RunnerClass, packageVersion(filename.slice(0, at + KNEX_DIR.length)));
    }
  }

  private patchRunner(Runner: RunnerClass, version: string | undefined): void {
    const proto = Runner?.prototype;
    if (!proto || proto[kPatched] || typeof proto.query !== 'function') return;
    proto[kPatched] = true;
    const original = proto.query;
    const instrumentation = this;
    proto.query = function (this: KnexRunner, query: KnexQuery): Promise<unknown> {
      if (!instrumentation._enabled) return original.call(this, query);
      const parent = context.active();
      if (isTracingSuppressed(parent)) return original.call(this, query);
      const connection = this.connection;
      if (instrumentation.pgSpans && tracedByOurPg(connection)) {
        const table = tableOf(this);
        if (table === undefined) return original.call(this, query);
        // knex calls connection.query() synchronously from here (Runner → client.query → _query), so the
        // hint is read by exactly this query's pg span.
        connection[kCollectionHint] = table;
        try {
          return original.call(this, query);
        } finally {
          connection[kCollectionHint] = undefined;
        }
      }
      return instrumentation.traceQuery(this, query, original, parent, version);
    };
  }

  private traceQuery(runner: KnexRunner, query: KnexQuery, original: RunnerQuery, parent: Context, version: string | undefined): Promise<unknown> {
    const target = (runner.client[kTarget] ??= targetOf(runner.client));
    const sql = typeof query?.sql === 'string' ? query.sql : undefined;
    const summary = sql !== undefined ? summarizeSql(sql) : undefined;
    const method = typeof query?.method === 'string' ? query.method.toUpperCase() : undefined;
    const operation = summary?.operation ?? method;
    const collection = tableOf(runner) ?? summary?.collection;
    const name = operation !== undefined && collection !== undefined ? `${operation} ${collection}` : (operation ?? collection ?? target.system);
    const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT }, parent);
    // After creation, as in pg-query.ts: the agent's samplers never read attributes.
    if (span.isRecording()) {
      span.setAttributes({
        'db.system.name': target.system,
        'db.namespace': target.namespace,
        'db.operation.name': operation,
        'db.collection.name': collection,
        'db.query.text': sql !== undefined && sql.length > MAX_QUERY_LENGTH ? `${sql.slice(0, MAX_QUERY_LENGTH)}..` : sql,
        'server.address': target.address,
        'server.port': target.port,
        'knex.version': version,
      });
    }
    return context.with(trace.setSpan(parent, span), original, runner, query).then(
      (result) => {
        span.end();
        return result;
      },
      (err: unknown) => {
        const attributes: Attributes = {};
        recordDbError(span, err, attributes, driverMessage(err, query, runner.client));
        span.end();
        throw err;
      },
    );
  }
}

/** knex.version, as upstream reports it: read once per copy of knex. */
function packageVersion(dir: string): string | undefined {
  try {
    const { version } = JSON.parse(readFileSync(`${dir}package.json`, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

/** The table the builder names (`knex('users')`), without an alias; none for raw queries and subqueries. */
function tableOf(runner: KnexRunner): string | undefined {
  const table = runner.builder?._single?.table;
  if (typeof table !== 'string' || table === '') return undefined;
  const space = table.indexOf(' ');
  return space === -1 ? table : table.slice(0, space);
}

/** Conventions' db.system.name for knex's drivers; others pass through as knex names them. */
const SYSTEMS: Record<string, string> = {
  pg: 'postgresql',
  pgnative: 'postgresql',
  'pg-redshift': 'aws.redshift',
  cockroachdb: 'cockroachdb',
  sqlite3: 'sqlite',
  'better-sqlite3': 'sqlite',
  mysql: 'mysql',
  mysql2: 'mysql',
  mariadb: 'mariadb',
  mssql: 'microsoft.sql_server',
  oracle: 'oracle.db',
  oracledb: 'oracle.db',
};

/** Once per knex instance: where it connects, from its settings or connection string. */
function targetOf(client: KnexClient): Target {
  const driver = client.driverName ?? 'other_sql';
  const settings = client.connectionSettings as
    | string
    | { filename?: string; database?: string; host?: string; port?: number | string; connectionString?: string }
    | undefined;
  const fromUrl = urlOf(typeof settings === 'string' ? settings : settings?.connectionString);
  const object = typeof settings === 'object' && settings !== null ? settings : undefined;
  const port = Number(object?.port ?? fromUrl?.port);
  return {
    system: SYSTEMS[driver] ?? driver,
    namespace: object?.filename || object?.database || (fromUrl?.pathname.slice(1) ? decodeURIComponent(fromUrl.pathname.slice(1)) : undefined),
    address: object?.host ?? (fromUrl?.hostname || undefined),
    port: Number.isInteger(port) && port > 0 ? port : undefined,
  };
}

function urlOf(connectionString: string | undefined): URL | undefined {
  if (!connectionString) return undefined;
  try {
    return new URL(connectionString);
  } catch {
    return undefined;
  }
}

/**
 * knex rewrites a driver error's message to `<query with its values inlined> - <driver message>`: give back
 * the driver's message, or none if the prefix is not recognised (it could carry values).
 */
function driverMessage(err: unknown, query: KnexQuery, client: KnexClient): string | undefined {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return undefined;
  const sql = typeof query?.sql === 'string' ? query.sql : undefined;
  if (sql === undefined) return message;
  for (const prefix of [sql, inlineBindings(sql, query.bindings, client)]) {
    if (prefix !== undefined && message.startsWith(`${prefix} - `)) return message.slice(prefix.length + 3);
  }
  return message.includes(' - ') ? undefined : message;
}

/** What knex's formatQuery (execution/internal/query-executioner.js) puts before the message. */
function inlineBindings(sql: string, bindings: unknown[] | undefined, client: KnexClient): string | undefined {
  const escape = client._escapeBinding;
  if (typeof escape !== 'function') return undefined;
  const values = bindings ?? [];
  let index = 0;
  try {
    return sql.replace(/\\?\?/g, (match) => {
      if (match === '\\?') return '?';
      if (index === values.length) return match;
      return escape.call(client, values[index++], { timeZone: undefined });
    });
  } catch {
    return undefined;
  }
}
