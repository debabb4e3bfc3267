// The agent's Prometheus names (its /metrics endpoint) are the ones Prometheus's OTLP ingestion gives:
// cases from prometheus/otlptranslator's own tests (strategy UnderscoreEscapingWithSuffixes), plus the
// agent's metrics as docs/metrics.md lists them. (stack/test/alerting.e2e.test.ts checks real ingestion.)
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { prometheusLabelName, prometheusMetricName } from '../src/prometheus-name.js';

type Kind = 'gauge' | 'counter' | 'updown' | 'histogram';
const prometheusName = (name: string, unit: string, kind: Kind) =>
  prometheusMetricName(name, unit, kind === 'counter' ? 'counter' : kind === 'gauge' ? 'gauge' : 'other').name;

describe('Prometheus names of OTLP metrics', () => {
  const cases: Array<[string, string, Kind, string]> = [
    // otlptranslator
    ['requests', '', 'counter', 'requests_total'],
    ['cpu_usage', '1', 'gauge', 'cpu_usage_ratio'],
    ['items', '1', 'counter', 'items_total'],
    ['response_time', 'ms', 'gauge', 'response_time_milliseconds'],
    ['memory_usage', 'By', 'gauge', 'memory_usage_bytes'],
    ['requests', '1/s', 'gauge', 'requests_per_second'],
    ['throughput', 'By/s', 'gauge', 'throughput_bytes_per_second'],
    ['custom_metric', 'custom_unit', 'gauge', 'custom_metric_custom_unit'],
    ['custom_metric', '{custom}', 'gauge', 'custom_metric'],
    ['custom_metric', 'By/{custom}', 'gauge', 'custom_metric_bytes'],
    ['requests_total', '', 'counter', 'requests_total'],
    ['cpu_usage_ratio', '1', 'gauge', 'cpu_usage_ratio'],
    ['response_time_seconds', 's', 'gauge', 'response_time_seconds'],
    ['requests', '1/s', 'counter', 'requests_per_second_total'],
    ['metric__with__multiple__underscores', 'unit__multiple__underscores', 'gauge', 'metric_with_multiple_underscores_unit_multiple_underscores'],
    ['custom_metric', 'unit@with#special/chars', 'gauge', 'custom_metric_unit_with_special_per_chars'],
    ['request_duration', 's', 'histogram', 'request_duration_seconds'],
    ['active_connections', '', 'updown', 'active_connections'],
    ['uptime', 'd', 'gauge', 'uptime_days'],
    ['123metric', '', 'gauge', '_123metric'],
    // the agent (docs/metrics.md)
    ['http.server.request.duration', 's', 'histogram', 'http_server_request_duration_seconds'],
    ['process.cpu.time', 's', 'counter', 'process_cpu_time_seconds_total'],
    ['nodejs.eventloop.utilization', '1', 'gauge', 'nodejs_eventloop_utilization_ratio'],
    ['process.memory.usage', 'By', 'updown', 'process_memory_usage_bytes'],
    ['lookout.worker.queue.depth', '{message}', 'gauge', 'lookout_worker_queue_depth'],
    ['lookout.audit.events.written', '{event}', 'counter', 'lookout_audit_events_written_total'],
    ['lookout.errors', '{exception}', 'counter', 'lookout_errors_total'],
    ['lookout.backup.last_success', 's', 'gauge', 'lookout_backup_last_success_seconds'],
    ['db.client.connection.create_time', 's', 'histogram', 'db_client_connection_create_time_seconds'],
    ['x.bytes.sent', 'By', 'counter', 'x_bytes_sent_total'],
  ];
  for (const [name, unit, kind, expected] of cases) {
    it(`names ${kind} ${name} [${unit}] ${expected}`, () => assert.equal(prometheusName(name, unit, kind), expected));
  }

  it('names labels as Prometheus does', () => {
    assert.equal(prometheusLabelName('http.response.status_code'), 'http_response_status_code');
    assert.equal(prometheusLabelName('2xx'), 'key_2xx');
    assert.equal(prometheusLabelName('_private'), 'key_private');
    assert.equal(prometheusLabelName('__reserved'), '__reserved');
  });
});
