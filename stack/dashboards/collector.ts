// Collector health: what the OpenTelemetry Collector accepts, refuses, sends, drops and holds in its queues.
import { DashboardBuilder, MappingType, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { BigValueColorMode, BigValueGraphMode, ReduceDataOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { dashboardUids, datasources, lookoutDashboard, prom, size, thresholds, timeseries } from './shared.js';
import type { DataqueryBuilder as PromQuery } from '@grafana/grafana-foundation-sdk/prometheus';

// The collector counts each signal under its own metric name suffix.
const SIGNALS = [
  { suffix: 'spans', legend: 'spans' },
  { suffix: 'metric_points', legend: 'metric points' },
  { suffix: 'log_records', legend: 'log records' },
] as const;

const refIds = ['A', 'B', 'C'] as const;

// One query per signal: `otelcol_<prefix>_<signal>` (the Collector exposes its counters without `_total`), summed by `by`.
function perSignal(prefix: string, by: string): PromQuery[] {
  return SIGNALS.map(({ suffix, legend }, i) =>
    prom(refIds[i]!, `sum by (${by}) (rate(otelcol_${prefix}_${suffix}[$__rate_interval]))`, `{{${by}}} ${legend}`),
  );
}

const upStat = (): StatPanel =>
  new StatPanel()
    .title('Collector up')
    .description('Whether Prometheus can scrape the collector’s own metrics endpoint (otel-collector:8888).')
    .datasource(datasources.prometheus)
    .unit('none')
    .span(size.quarter)
    .height(size.height)
    .graphMode(BigValueGraphMode.None)
    .colorMode(BigValueColorMode.Background)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .mappings([
      { type: MappingType.ValueToText, options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
    ])
    .thresholds(
      thresholds([
        [null, 'red'],
        [1, 'green'],
      ]),
    )
    .withTarget(prom('A', 'min(up{job="otel-collector"})', 'up'));

export function collector(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.collector,
    'Collector health',
    'The OpenTelemetry Collector’s own metrics: data accepted and refused by its receivers, sent, failed and dropped by its exporters, and exporter queue fill.',
  )
    .withRow(new RowBuilder('Receivers'))
    .withPanel(upStat())
    .withPanel(
      timeseries('Accepted by receiver and signal', 'Spans, metric points and log records per second the receivers accepted into the pipelines.', 'cps', 9).targets(
        perSignal('receiver_accepted', 'receiver'),
      ),
    )
    .withPanel(
      timeseries(
        'Refused by receiver and signal',
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
        'Send failed by exporter and signal',
        'Items per second an exporter failed to deliver after retries: this data is lost.',
        'cps',
        size.third,
      ).targets(perSignal('exporter_send_failed', 'exporter')),
    )
    .withPanel(
      timeseries(
        'Enqueue failed by exporter and signal',
        'Items per second dropped because the exporter’s sending queue was full: this data is lost.',
        'cps',
        size.third,
      ).targets(perSignal('exporter_enqueue_failed', 'exporter')),
    )
    .withRow(new RowBuilder('Queues'))
    .withPanel(
      timeseries('Queue size vs capacity', 'Batches waiting in each exporter’s sending queue, against the queue’s capacity.', 'short', size.half)
        .withTarget(prom('A', 'sum by (exporter) (otelcol_exporter_queue_size)', '{{exporter}} size'))
        .withTarget(prom('B', 'sum by (exporter) (otelcol_exporter_queue_capacity)', '{{exporter}} capacity')),
    )
    .withPanel(
      timeseries(
        'Queue fill',
        'Exporter queue size as a share of capacity. CollectorQueueNearlyFull fires above 80%: the backend is slow or down.',
        'percentunit',
        size.half,
      )
        .withTarget(
          prom('A', 'sum by (exporter) (otelcol_exporter_queue_size) / sum by (exporter) (otelcol_exporter_queue_capacity)', '{{exporter}}'),
        )
        .thresholds(
          thresholds([
            [null, 'green'],
            [0.8, 'red'],
          ]),
        )
        .min(0)
        .max(1),
    );
}
