// Per-service HTTP alerts (5xx ratio, latency, telemetry gone) and the availability SLO's burn-rate alerts.
import { dashboardUids, errorBudget, http, slo, type Duration } from '../config.js';
import { asService, httpRequests, recorded } from '../promql.js';
import type { AlertRule, RuleGroup } from '../rules.js';

export const panels = {
  errorRatio: '5xx error ratio',
  latencyCritical: `Latency p${Math.round(http.latency.critical.quantile * 100)} (${http.latency.critical.window})`,
  latencyWarning: `Latency p${Math.round(http.latency.warning.quantile * 100)} (${http.latency.warning.window})`,
  requestsByRoute: 'Request rate by route',
  burnFast: 'Burn rate, fast windows',
  burnSlow: 'Burn rate, slow windows',
} as const;

const overview = (panel: string) => ({ uid: dashboardUids.serviceOverview, panel });
const percent = (ratio: number) => `${Math.round(ratio * 10000) / 100}%`;

type LatencyThreshold = (typeof http.latency)['critical' | 'warning'];

/** ServiceHighLatencyP<q>: the recorded quantile over its window above the threshold. */
function latencyAlert(severity: AlertRule['severity'], t: LatencyThreshold, panel: string): AlertRule {
  const p = Math.round(t.quantile * 100);
  return {
    alert: `ServiceHighLatencyP${p}`,
    expr: `${recorded.latency(t.quantile, t.window)} > ${t.aboveSeconds}`,
    for: t.for,
    severity,
    summary: `{{ $labels.service }}: p${p} latency {{ $value | humanizeDuration }}`,
    description: `The ${p}th percentile of {{ $labels.service }}'s HTTP server request duration over ${t.window} has been above ${t.aboveSeconds}s for ${t.for} (now {{ $value | humanizeDuration }}).`,
    value: '{{ $value | humanizeDuration }}',
    dashboard: overview(panel),
  };
}

function serviceAlerts(): AlertRule[] {
  const { critical: errCrit, warning: errWarn } = http.errorRatio;
  const { critical: latCrit, warning: latWarn } = http.latency;
  return [
    {
      alert: 'ServiceHighErrorRatio',
      why: `Sustained, not a blip: the ${errCrit.window} ratio has to stay above ${percent(errCrit.above)} for ${errCrit.for} more.`,
      expr: `${recorded.errorRatio(errCrit.window)} > ${errCrit.above}`,
      for: errCrit.for,
      severity: 'critical',
      summary: '{{ $labels.service }}: {{ $value | humanizePercentage }} of HTTP requests fail with 5xx',
      description: `More than ${percent(errCrit.above)} of {{ $labels.service }}'s HTTP server requests returned a 5xx status over the last ${errCrit.window} (now {{ $value | humanizePercentage }}).`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: overview(panels.errorRatio),
    },
    {
      alert: 'ServiceElevatedErrorRatio',
      why: 'A lower threshold over a longer window catches the slow leak the critical alert misses.',
      expr: `${recorded.errorRatio(errWarn.window)} > ${errWarn.above}`,
      for: errWarn.for,
      severity: 'warning',
      summary: '{{ $labels.service }}: elevated 5xx ratio ({{ $value | humanizePercentage }})',
      description: `More than ${percent(errWarn.above)} of {{ $labels.service }}'s HTTP server requests returned a 5xx status over the last ${errWarn.window} (now {{ $value | humanizePercentage }}).`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: overview(panels.errorRatio),
    },
    latencyAlert('critical', latCrit, panels.latencyCritical),
    latencyAlert('warning', latWarn, panels.latencyWarning),
    {
      alert: 'ServiceTelemetryAbsent',
      why: [
        'A service that sent HTTP server metrics within the last hour sends none now (its series went stale: no',
        'sample in the 5m lookback). Catches a crashed service, which stops producing its own error metrics, and a',
        'broken agent -> Collector -> Prometheus path. It resolves an hour after the last sample, when the service is forgotten.',
      ].join('\n'),
      expr: `count by (service) (${asService(`last_over_time(${httpRequests}[1h])`)})\nunless\ncount by (service) (${asService(httpRequests)})`,
      for: '5m',
      severity: 'critical',
      summary: '{{ $labels.service }}: no HTTP metrics received',
      description: '{{ $labels.service }} sent HTTP server metrics within the last hour but none for at least 10 minutes: the service is down or its telemetry is not reaching Prometheus.',
      value: 'absent',
      dashboard: overview(panels.requestsByRoute),
    },
  ];
}

type BurnWindows = ReadonlyArray<{ long: string; short: string; burn: number }>;

const burnExpr = (windows: BurnWindows) =>
  windows
    .map(
      ({ long, short, burn }) =>
        `(\n    ${recorded.errorRatio(long as Duration)} > (${burn} * ${errorBudget})\n  and\n    ${recorded.errorRatio(short as Duration)} > (${burn} * ${errorBudget})\n)`,
    )
    .join('\nor\n');

const burns = (windows: BurnWindows) => windows.map((w) => `${w.burn}x over ${w.long} and ${w.short}`).join(', or ');

function sloAlerts(): AlertRule[] {
  const objective = `${slo.objective * 100}%`;
  return [
    {
      alert: 'ServiceErrorBudgetBurnFast',
      why: `Pages at ${burns(slo.fast.windows)}; the two windows filter blips, ${slo.fast.for} only absorbs evaluation jitter.`,
      expr: burnExpr(slo.fast.windows),
      for: slo.fast.for,
      severity: slo.fast.severity,
      summary: '{{ $labels.service }}: burning its error budget fast',
      description: `{{ $labels.service }} is spending its ${objective} availability error budget at ${slo.fast.windows.map((w) => w.burn).sort((a, b) => a - b).join('x-')}x the sustainable rate (long-window error ratio {{ $value | humanizePercentage }}); at this pace a ${slo.periodDays}-day budget is gone in days.`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: { uid: dashboardUids.alerts, panel: panels.burnFast },
    },
    {
      alert: 'ServiceErrorBudgetBurnSlow',
      why: `A ticket (email), not a page: ${burns(slo.slow.windows)}; ${slo.slow.for} so a short recovery does not open and close tickets.`,
      expr: burnExpr(slo.slow.windows),
      for: slo.slow.for,
      severity: slo.slow.severity,
      summary: '{{ $labels.service }}: burning its error budget slowly',
      description: `{{ $labels.service }} is spending its ${objective} availability error budget at ${slo.slow.windows.map((w) => w.burn).sort((a, b) => a - b).join('x-')}x the sustainable rate (long-window error ratio {{ $value | humanizePercentage }}); left alone it exhausts the ${slo.periodDays}-day budget.`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: { uid: dashboardUids.alerts, panel: panels.burnSlow },
    },
  ];
}

export const httpAlertGroups = (): Array<RuleGroup<AlertRule>> => [
  { name: 'lookout-service-alerts', rules: serviceAlerts() },
  {
    name: 'lookout-slo-alerts',
    why: `Availability SLO ${slo.objective * 100}%: error budget ${errorBudget}. Burn rate B = errors at B x the budget rate.`,
    rules: sloAlerts(),
  },
];
