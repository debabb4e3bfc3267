// Connection-pool metrics for pg-pool, read from the pools themselves when metrics are collected: nothing
// happens per query. A pool is noticed when it opens its first connection (pg-pool's newClient), which
// is once per connection, not per query.
//
// Names, attributes and instrument kinds as @opentelemetry/instrumentation-pg 0.77 exports them
// (non-monotonic sums: db.client.connection.count by db.client.connection.state idle/used,
// db.client.connection.max, db.client.connection.pending_requests, each by db.client.connection.pool.name),
// but observed instead of kept up to date with an add() on every connect/acquire/release/remove event.
// Differences: the pool name is `host:port/database` as the pool's first client resolved it (upstream reads
// the pool options and says "unknown_host:unknown_port/unknown_database" for a pool configured by
// connectionString or PG* variables), and pending_requests is in `{request}` as the conventions say
// (upstream: `{connection}`).
import type { BatchObservableResult, Meter, Observable } from '@opentelemetry/api';

export interface PgPool {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly ending?: boolean;
  readonly ended?: boolean;
  readonly options: { max?: number };
  readonly _clients?: Array<{ connectionParameters?: { host?: string; port?: number; database?: string } }>;
  [kPoolName]?: string;
}

const kPoolName = Symbol.for('lookout.pg.poolName');
const pools = new Set<WeakRef<PgPool>>();

/** Called after pg-pool created a client: registers the pool once, named after that client's target. */
export function trackPool(pool: PgPool): void {
  if (pool[kPoolName] !== undefined) return;
  const params = pool._clients?.[pool._clients.length - 1]?.connectionParameters;
  pool[kPoolName] = `${params?.host ?? 'unknown_host'}:${params?.port ?? 'unknown_port'}/${params?.database ?? 'unknown_database'}`;
  pools.add(new WeakRef(pool));
}

interface PoolTotals {
  used: number;
  idle: number;
  pending: number;
  max: number;
}

export function registerPoolMetrics(meter: Meter): void {
  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    description: 'The number of connections that are currently in state described by the state attribute.',
    unit: '{connection}',
  });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', {
    description: 'The maximum number of open connections allowed.',
    unit: '{connection}',
  });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    description: 'The number of current pending requests for an open connection.',
    unit: '{request}',
  });
  meter.addBatchObservableCallback((result) => observe(result, count, max, pending), [count, max, pending]);
}

function observe(result: BatchObservableResult, count: Observable, max: Observable, pending: Observable): void {
  // Pools sharing a name (two pools on one database) add up, as upstream's counters do.
  const byName = new Map<string, PoolTotals>();
  for (const ref of pools) {
    const pool = ref.deref();
    if (pool === undefined || pool.ending || pool.ended) {
      pools.delete(ref);
      continue;
    }
    const name = pool[kPoolName]!;
    const totals = byName.get(name) ?? { used: 0, idle: 0, pending: 0, max: 0 };
    totals.idle += pool.idleCount;
    totals.used += pool.totalCount - pool.idleCount;
    totals.pending += pool.waitingCount;
    totals.max += pool.options.max ?? 10;
    byName.set(name, totals);
  }
  for (const [name, totals] of byName) {
    result.observe(count, totals.used, { 'db.client.connection.state': 'used', 'db.client.connection.pool.name': name });
    result.observe(count, totals.idle, { 'db.client.connection.state': 'idle', 'db.client.connection.pool.name': name });
    result.observe(max, totals.max, { 'db.client.connection.pool.name': name });
    result.observe(pending, totals.pending, { 'db.client.connection.pool.name': name });
  }
}
