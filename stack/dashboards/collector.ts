// Collector health: what the OpenTelemetry Collector accepts, refuses, sends, drops and holds in its queues.
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { dashboardUids, labelVariable, lookoutDashboard, prom, size, thresholds, timeseries, upStat as upStatPanel } from './shared.js';
import { panels } from '../mixin/alerts/platform.js';
import { collector as collectorConfig } from '../mixin/config.js';
import type { DataqueryBuilder as PromQuery } from '@grafana/grafana-foundation-sdk/prometheus';

// The collector counts each signal under its own metric name suffix.
const SIGNALS = [
  { suffix: 'spans', legend: 'spans' },
  { suffix: 'metric_points', legend: 'metric points' },
  { suffix: 'log_records', legend: 'log records' },
] as const;

// The collectors the alerts name by `service` (= their scrape job); the alert links set this variable.
const selector = 'job=~"$service"';
const refId = (i: number) => String.fromCharCode(65 + i);

// One query per signal: `otelcol_<prefix>_<signal>` (the Collector exposes its counters without `_total`), summed by `by`.
function perSignal(prefix: string, by: string, legendPrefix = '', first = 0): PromQuery[] {
  return SIGNALS.map(({ suffix, legend }, i) =>
    prom(refId(first + i), `sum by (${by}) (rate(otelcol_${prefix}_${suffix}{${selector}}[$__rate_interval]))`, `{{${by}}} ${legendPrefix}${legend}`),
  );
}

const upStat = () => upStatPanel('Collector up', 'Whether Prometheus can scrape the collector’s own metrics endpoint (otel-collector:8888).', prom('A', `min(up{${selector}})`, 'up'));

export function collector(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.collector,
    'Collector health',
    'The OpenTelemetry Collector’s own metrics: data accepted and refused by its receivers, sent, failed and dropped by its exporters, and exporter queue fill.',
  )
    .withVariable(labelVariable('service', 'job', `up{job=~"${collectorConfig.job}.*"}`))
    .withRow(new RowBuilder('Receivers'))
    .withPanel(upStat())
    .withPanel(
      timeseries('Accepted by receiver and signal', 'Spans, metric points and log records per second the receivers accepted into the pipelines.', 'cps', 9).targets(
        perSignal('receiver_accepted', 'receiver'),
      ),
    )
    .withPanel(
      timeseries(
        panels.refused,
        'Items per second the receivers refused, usually because memory_limiter is pushing back. Clients must retry or lose the data.',
        'cps',
        9,
      ).targets(perSignal('receiver_refused', 'receiver')),
    )
    .withRow(new RowBuilder('Exporters'))
    .withPanel(
      timeseries('Sent by exporter and signal', 'Items per second each exporter delivered to Prometheus, Loki or Tempo.', 'cps', size.third).targets(
        perSignal('exporter_sent', 'exporter'),
      ),
    )
    .withPanel(
      timeseries(
        panels.exporterFailures,
        'Items per second an exporter failed to deliver after retries (send failed) or dropped because its sending queue was full (enqueue failed): this data is lost. CollectorDroppingData fires when this stays above zero for 5m.',
        'cps',
        size.third,
      ).targets([...perSignal('exporter_send_failed', 'exporter', 'send failed ', 0), ...perSignal('exporter_enqueue_failed', 'exporter', 'enqueue failed ', SIGNALS.length)]),
    )
    .withRow(new RowBuilder('Queues'))
    .withPanel(
      timeseries('Queue size vs capacity', 'Batches waiting in each exporter’s sending queue, against the queue’s capacity.', 'short', size.half)
        .withTarget(prom('A', `sum by (exporter) (otelcol_exporter_queue_size{${selector}})`, '{{exporter}} size'))
        .withTarget(prom('B', `sum by (exporter) (otelcol_exporter_queue_capacity{${selector}})`, '{{exporter}} capacity')),
    )
    .withPanel(
      timeseries(
        panels.queueFill,
        `Exporter queue size as a share of capacity. CollectorQueueNearlyFull fires above ${collectorConfig.queueFull.above * 100}% for ${collectorConfig.queueFull.for}: the backend is slow or down.`,
        'percentunit',
        size.half,
      )
        .withTarget(
          prom('A', `sum by (exporter) (otelcol_exporter_queue_size{${selector}}) / sum by (exporter) (otelcol_exporter_queue_capacity{${selector}})`, '{{exporter}}'),
        )
        .thresholds(
          thresholds([
            [null, 'green'],
            [collectorConfig.queueFull.above, 'red'],
          ]),
        )
        .min(0)
        .max(1),
    );
}
