// Runtime: the Node.js process behind each service instance (event loop, heap, GC, CPU, memory), and the
// service instruments every Lookout service can expose (queues, units of work, connection pools).
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { dashboardUids, labelVariable, lookoutDashboard, prom, serviceVariable, size, thresholds, timeseries } from './shared.js';
import { panels } from '../mixin/alerts/services.js';
import { database, workloads } from '../mixin/config.js';
import { anyComponent, recorded } from '../mixin/promql.js';

const selector = 'service_name=~"$service", instance=~"$instance"';
const perInstance = '{{service_name}} {{instance}}';
const failureRatio = recorded.processingFailureRatio(workloads.failures.window);

export function runtime(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.runtime,
    'Runtime',
    'Node.js runtime health per service instance: event loop delay and utilization, V8 heap, garbage collection, CPU and resident memory; queues, work and connection pools.',
  )
    .withVariable(serviceVariable())
    .withVariable(labelVariable('instance', 'instance', 'process_uptime_seconds{service_name=~"$service"}'))
    .withRow(new RowBuilder('Event loop'))
    .withPanel(
      timeseries(
        'Event loop delay p99',
        'p99 delay of the event loop per instance: how long a ready callback waited. Sustained values above 100ms mean blocked handlers.',
        's',
      )
        .withTarget(prom('A', `max by (service_name, instance) (nodejs_eventloop_delay_p99_seconds{${selector}})`, `${perInstance} p99`))
        .withTarget(prom('B', `max by (service_name, instance) (nodejs_eventloop_delay_p50_seconds{${selector}})`, `${perInstance} p50`))
        .thresholds(
          thresholds([
            [null, 'green'],
            [0.1, 'orange'],
            [0.5, 'red'],
          ]),
        ),
    )
    .withPanel(
      timeseries(
        'Event loop utilization',
        'Share of time the event loop was busy rather than idle, per instance. Near 100% the process is CPU-bound on one thread.',
        'percentunit',
      )
        .withTarget(prom('A', `max by (service_name, instance) (nodejs_eventloop_utilization_ratio{${selector}})`, perInstance))
        .min(0)
        .max(1),
    )
    .withRow(new RowBuilder('Memory and GC'))
    .withPanel(
      timeseries('Heap used', 'V8 heap in use per instance, all heap spaces summed. A rising floor after GC suggests a leak.', 'bytes', size.third).withTarget(
        prom('A', `sum by (service_name, instance) (v8js_memory_heap_used_bytes{${selector}})`, perInstance),
      ),
    )
    .withPanel(
      timeseries(
        'GC time',
        'Seconds spent in garbage collection per second of wall time, per instance and GC type (0.1 = 10% of the time).',
        'percentunit',
        size.third,
      ).withTarget(
        prom(
          'A',
          `sum by (service_name, instance, v8js_gc_type) (rate(v8js_gc_duration_seconds_sum{${selector}}[$__rate_interval]))`,
          `${perInstance} {{v8js_gc_type}}`,
        ),
      ),
    )
    .withPanel(
      timeseries('RSS', 'Resident set size of the process per instance: heap, code, stacks and native buffers.', 'bytes', size.third).withTarget(
        prom('A', `max by (service_name, instance) (process_memory_usage_bytes{${selector}})`, perInstance),
      ),
    )
    .withRow(new RowBuilder('CPU'))
    .withPanel(
      timeseries('CPU', 'CPU time used per second per instance, user and system together (1.0 = one full core).', 'percentunit', size.half).withTarget(
        prom('A', `sum by (service_name, instance) (rate(process_cpu_time_seconds_total{${selector}}[$__rate_interval]))`, perInstance),
      ),
    )
    .withPanel(
      timeseries('CPU by mode', 'CPU time used per second per instance, split into user and system mode.', 'percentunit', size.half).withTarget(
        prom(
          'A',
          `sum by (service_name, instance, cpu_mode) (rate(process_cpu_time_seconds_total{${selector}}[$__rate_interval]))`,
          `${perInstance} {{cpu_mode}}`,
        ),
      ),
    )
    .withRow(new RowBuilder('Queues, work and connection pools'))
    .withPanel(
      timeseries(
        panels.queueDepth,
        `Messages waiting per queue (lookout.<component>.queue.depth from serviceInstruments). A depth that only grows means consumers fall behind; QueueDepthHigh fires above ${workloads.queueDepth.above} for ${workloads.queueDepth.for}.`,
        'short',
        size.third,
      ).withTarget(prom('A', `max by (service_name, queue) (${anyComponent('queue_depth', selector)})`, '{{service_name}} {{queue}}')),
    )
    .withPanel(
      timeseries(
        'Processing duration p95',
        'p95 time per unit of work, by operation (lookout.<component>.processing.duration from serviceInstruments).',
        's',
        size.third,
      ).withTarget(
        prom(
          'A',
          `histogram_quantile(0.95, sum by (service_name, operation, le) (rate(${anyComponent('processing_duration_seconds_bucket', selector)}[$__rate_interval])))`,
          '{{service_name}} {{operation}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        panels.processingFailures,
        `Share of units of work that ended in failure over ${workloads.failures.window}, by service and operation (${failureRatio}); JobFailureRatioHigh fires above ${workloads.failures.above * 100}% for ${workloads.failures.for}.`,
        'percentunit',
        size.third,
      )
        .withTarget(prom('A', `${failureRatio}{service=~"$service"}`, '{{service}} {{operation}}'))
        .thresholds(
          thresholds([
            [null, 'green'],
            [workloads.failures.above, 'orange'],
          ]),
        )
        .min(0),
    )
    .withPanel(
      timeseries(
        'Pool connections in use',
        'Connections used per pool against its maximum (db.client.connection.*). Used at the maximum with requests pending means the pool is the bottleneck.',
        'short',
        size.third,
      )
        .withTarget(prom('A', `sum by (service_name, db_client_connection_pool_name) (db_client_connection_count{db_client_connection_state="used", ${selector}})`, '{{service_name}} {{db_client_connection_pool_name}} used'))
        .withTarget(prom('B', `max by (service_name, db_client_connection_pool_name) (db_client_connection_max{${selector}})`, '{{service_name}} {{db_client_connection_pool_name}} max')),
    )
    .withPanel(
      timeseries(
        panels.connectionFailures,
        'Connection attempts (db.client.connection.create_time) and database calls (db.client.operation.duration) per second that failed to connect, by error.type: refused, reset, timed out, SQLSTATE 08xxx, 53300, 57P0x, 28xxx, pool timeout. DatabaseConnectionFailures fires when this stays above zero.',
        'cps',
        size.third,
      )
        .withTarget(
          prom('A', `sum by (service_name, error_type) (rate(db_client_connection_create_time_seconds_count{error_type=~"${database.connectionErrorTypes}", ${selector}}[$__rate_interval]))`, '{{service_name}} connect {{error_type}}'),
        )
        .withTarget(
          prom('B', `sum by (service_name, error_type) (rate(db_client_operation_duration_seconds_count{error_type=~"${database.connectionErrorTypes}", ${selector}}[$__rate_interval]))`, '{{service_name}} call {{error_type}}'),
        ),
    )
    .withPanel(
      timeseries(panels.poolPending, `Requests waiting for a connection per pool. Anything above zero for long adds straight to latency; DatabasePoolExhausted fires when it stays above zero for ${database.pendingAcquisitions.for}.`, 'short', size.third).withTarget(
        prom('A', `sum by (service_name, db_client_connection_pool_name) (db_client_connection_pending_requests{${selector}})`, '{{service_name}} {{db_client_connection_pool_name}}'),
      ),
    );
}
