// The stack's own health: scrape targets, and the OpenTelemetry Collector losing or refusing telemetry.
import { collector, dashboardUids } from '../config.js';
import { asJobService } from '../promql.js';
import type { AlertRule, RuleGroup } from '../rules.js';

export const panels = {
  targets: 'Scrape targets up',
  exporterFailures: 'Send and enqueue failures',
  refused: 'Refused by receiver and signal',
  queueFill: 'Queue fill ratio',
} as const;

const collectorDashboard = (panel: string) => ({ uid: dashboardUids.collector, panel });

/** One rate() per metric name, tagged with a throw-away `part` label and summed away (see the group's note). */
const perSignal = (metrics: Array<[string, string]>, by: string) =>
  `sum by (job, ${by}) (\n${metrics.map(([name, part], i) => `  ${i === 0 ? '   ' : 'or '}label_replace(rate(${name}[5m]), "part", "${part}", "", "")`).join('\n')}\n)`;

const signals = ['spans', 'metric_points', 'log_records'];

export const platformAlertGroups = (): Array<RuleGroup<AlertRule>> => [
  {
    name: 'lookout-target-alerts',
    rules: [
      {
        alert: 'TargetDown',
        why: 'The stack\'s scraped components and exporters. Any of them down blinds part of the stack. `service` = the scrape job.',
        expr: `${asJobService('up')} == 0`,
        for: '2m',
        severity: 'critical',
        summary: '{{ $labels.service }}: scrape target {{ $labels.instance }} is down',
        description: 'Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for 2 minutes.',
        value: 'down',
        dashboard: { uid: dashboardUids.alerts, panel: panels.targets },
      },
    ],
  },
  {
    name: 'lookout-collector-alerts',
    why: [
      `Scraped from the Collector's own telemetry (job "${collector.job}"); \`service\` = the scrape job.`,
      'rate({__name__=~"a|b"}) would fail: rate() drops __name__ and the per-signal series of one exporter then share a label set.',
    ].join('\n'),
    rules: [
      {
        alert: 'CollectorDroppingData',
        why: 'send_failed: the exporter gave up on a batch; enqueue_failed: its queue was full. Either way the telemetry is lost.',
        expr: asJobService(
          `${perSignal(
            [...signals.map((s): [string, string] => [`otelcol_exporter_send_failed_${s}`, `send_${s}`]), ...signals.map((s): [string, string] => [`otelcol_exporter_enqueue_failed_${s}`, `enqueue_${s}`])],
            'exporter',
          )}`,
        ) + ' > 0',
        for: '5m',
        severity: 'critical',
        summary: '{{ $labels.service }}: exporter {{ $labels.exporter }} is dropping telemetry',
        description: "The Collector's exporter {{ $labels.exporter }} has failed to send or enqueue {{ $value | humanize }} items/s for 5 minutes; that telemetry is lost.",
        value: '{{ $value | humanize }}/s',
        dashboard: collectorDashboard(panels.exporterFailures),
      },
      {
        alert: 'CollectorRefusingData',
        why: 'Refusals (usually memory_limiter back-pressure) go back to the SDKs, which retry: a warning unless it turns into dropping.',
        expr: asJobService(perSignal(signals.map((s): [string, string] => [`otelcol_receiver_refused_${s}`, s]), 'receiver')) + ' > 0',
        for: '5m',
        severity: 'warning',
        summary: '{{ $labels.service }}: receiver {{ $labels.receiver }} is refusing telemetry',
        description: "The Collector's receiver {{ $labels.receiver }} has refused {{ $value | humanize }} items/s for 5 minutes (usually the memory limiter); senders must retry or drop.",
        value: '{{ $value | humanize }}/s',
        dashboard: collectorDashboard(panels.refused),
      },
      {
        alert: 'CollectorQueueNearlyFull',
        why: 'Size and capacity matched per exporter (and data_type where set); a full queue becomes enqueue_failed, i.e. CollectorDroppingData.',
        expr:
          asJobService(
            'sum by (job, instance, exporter, data_type) (otelcol_exporter_queue_size)\n/\nsum by (job, instance, exporter, data_type) (otelcol_exporter_queue_capacity)',
          ) + ` > ${collector.queueFull.above}`,
        for: collector.queueFull.for,
        severity: 'warning',
        summary: '{{ $labels.service }}: exporter {{ $labels.exporter }} queue {{ $value | humanizePercentage }} full',
        description: `The sending queue of the Collector's exporter {{ $labels.exporter }} has been more than ${collector.queueFull.above * 100}% full for ${collector.queueFull.for} (now {{ $value | humanizePercentage }}); its backend is slow or down.`,
        value: '{{ $value | humanizePercentage }}',
        dashboard: collectorDashboard(panels.queueFill),
      },
    ],
  },
];
