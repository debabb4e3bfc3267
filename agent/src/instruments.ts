// Service-level instruments every Lookout service shares, named by DESIGN.md's conventions:
// semantic-convention names where they exist (connection pools), `lookout.<component>.<thing>` otherwise.
import { metrics, type Attributes, type Histogram, type Meter } from '@opentelemetry/api';

/** Buckets for work that takes milliseconds to a minute (jobs, queue messages, batches). */
export const PROCESSING_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface PoolStats {
  used: number;
  idle: number;
  pending: number;
  max: number;
}

export interface ServiceInstruments {
  readonly meter: Meter;
  /** Reports the depth of a queue each time metrics are collected: `lookout.<component>.queue.depth`. */
  queueDepth(queue: string, read: () => number): void;
  /** `lookout.<component>.processing.duration` in seconds; time a unit of work with `time()`. */
  readonly processingDuration: Histogram;
  /** Records how long `work` took (and whether it threw) under `operation`. */
  time<T>(operation: string, work: () => Promise<T>, attributes?: Attributes): Promise<T>;
  /** Connection-pool gauges, per the database client semantic conventions (`db.client.connection.*`). */
  pool(name: string, read: () => PoolStats): void;
}

/**
 * Instruments for one component (`orders`, `audit`, `worker`…). Works with or without the agent:
 * without it the OpenTelemetry API hands out no-op instruments.
 */
export function serviceInstruments(component: string): ServiceInstruments {
  if (!/^[a-z][a-z0-9_]*$/.test(component)) {
    throw new Error(`component "${component}" must be lower_snake_case, as it becomes part of metric names`);
  }
  const meter = metrics.getMeter(`lookout.${component}`);
  const prefix = `lookout.${component}`;

  const depthGauge = meter.createObservableGauge(`${prefix}.queue.depth`, {
    unit: '{message}',
    description: 'Messages waiting in the queue',
  });
  const depthReaders = new Map<string, () => number>();
  depthGauge.addCallback((result) => {
    for (const [queue, read] of depthReaders) result.observe(read(), { queue });
  });

  const processingDuration = meter.createHistogram(`${prefix}.processing.duration`, {
    unit: 's',
    description: 'Time to process one unit of work',
    advice: { explicitBucketBoundaries: PROCESSING_BUCKETS_SECONDS },
  });

  const connections = meter.createObservableUpDownCounter('db.client.connection.count', {
    unit: '{connection}',
    description: 'Connections in the pool, by state',
  });
  const maxConnections = meter.createObservableUpDownCounter('db.client.connection.max', { unit: '{connection}' });
  const pendingRequests = meter.createObservableUpDownCounter('db.client.connection.pending_requests', { unit: '{request}' });
  const pools = new Map<string, () => PoolStats>();
  meter.addBatchObservableCallback(
    (result) => {
      for (const [name, read] of pools) {
        const stats = read();
        const pool = { 'db.client.connection.pool.name': name };
        result.observe(connections, stats.used, { ...pool, 'db.client.connection.state': 'used' });
        result.observe(connections, stats.idle, { ...pool, 'db.client.connection.state': 'idle' });
        result.observe(maxConnections, stats.max, pool);
        result.observe(pendingRequests, stats.pending, pool);
      }
    },
    [connections, maxConnections, pendingRequests],
  );

  return {
    meter,
    processingDuration,
    queueDepth(queue, read) {
      depthReaders.set(queue, read);
    },
    async time(operation, work, attributes = {}) {
      const start = performance.now();
      let outcome = 'success';
      try {
        return await work();
      } catch (err) {
        outcome = 'failure';
        throw err;
      } finally {
        processingDuration.record((performance.now() - start) / 1000, { ...attributes, operation, outcome });
      }
    },
    pool(name, read) {
      pools.set(name, read);
    },
  };
}
