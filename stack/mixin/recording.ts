// Recording rules: each service's RED signals, the PostgreSQL cache hit ratio and the share of failed work,
// precomputed under `level:metric:operations` names (https://prometheus.io/docs/practices/rules/).
//
// Every output carries one identifying label, `service`, copied from the promoted resource attribute
// service_name and then aggregated on: job/instance/route are summed away. 5xx are the server's errors;
// 4xx are the client's and do not burn the SLO.
//
// Ratios are `(errors or requests * 0) / requests`: a service with traffic and no errors records 0 rather
// than no series (dashboards show 0, not "No data"); a service idle for the whole window records NaN (0/0),
// which compares false, so alerts stay quiet.
import { audit, database, errorRatioWindows, http, seconds, workloads, type Duration } from './config.js';
import { anyComponent, httpBuckets, httpRequests, httpServerErrors, recorded, serviceRate } from './promql.js';
import type { RecordingRule, RuleGroup } from './rules.js';

function errorRatioRules(window: Duration): RecordingRule[] {
  return [
    { record: recorded.requestRate(window), expr: serviceRate(httpRequests, window) },
    { record: recorded.errorRate(window), expr: serviceRate(httpServerErrors, window) },
    {
      record: recorded.errorRatio(window),
      expr: `(${recorded.errorRate(window)} or ${recorded.requestRate(window)} * 0)\n/\n${recorded.requestRate(window)}`,
    },
  ];
}

const latencyRule = (quantile: number, window: Duration): RecordingRule => ({
  record: recorded.latency(quantile, window),
  expr: `histogram_quantile(${quantile}, ${serviceRate(httpBuckets, window, ['le'])})`,
});

/** The quantile/window pairs alerts and dashboards read, each once. */
function latencyPairs(): Array<[number, Duration]> {
  const pairs = new Map<string, [number, Duration]>();
  const add = (quantile: number, window: Duration) => pairs.set(`${quantile}/${window}`, [quantile, window]);
  for (const quantile of http.dashboardQuantiles) add(quantile, http.dashboardWindow);
  add(http.latency.critical.quantile, http.latency.critical.window);
  add(http.latency.warning.quantile, http.latency.warning.window);
  return [...pairs.values()];
}

// Windows up to 15m are evaluated every 15s (the alerting windows); the long SLO windows every 1m: they are
// the expensive queries, move slowly, and the burn-rate alerts tolerate a 1m-old value.
const FAST_LIMIT_SECONDS = 15 * 60;
const isShort = (window: Duration) => seconds(window) <= FAST_LIMIT_SECONDS;

export function recordingGroups(): Array<RuleGroup<RecordingRule>> {
  const { window: hitWindow } = database.cacheHitRatio;
  const { window: failWindow } = workloads.failures;
  return [
    {
      name: 'lookout-http-red',
      why: 'Request rate, 5xx rate and ratio, and latency quantiles per service, over the alerting windows.',
      rules: [...errorRatioWindows.filter(isShort).flatMap(errorRatioRules), ...latencyPairs().map(([q, w]) => latencyRule(q, w))],
    },
    {
      name: 'lookout-http-slo',
      interval: '1m',
      why: 'The long windows of the availability SLO: each a ratio of rates from the raw counters, so quiet periods weigh correctly.',
      rules: errorRatioWindows.filter((w) => !isShort(w)).flatMap(errorRatioRules),
    },
    {
      name: 'lookout-workloads',
      why: 'The audit stream lag the alert and the Audit dashboard share; the share of failed units of work per service and operation.',
      rules: [
        {
          record: recorded.streamLag(audit.streamLag.quantile, audit.streamLag.window),
          expr: `histogram_quantile(${audit.streamLag.quantile}, ${serviceRate('lookout_audit_stream_lag_seconds_bucket', audit.streamLag.window, ['le'])})`,
        },
        {
          record: recorded.processingFailureRatio(failWindow),
          why: 'Every component\'s processing histogram (lookout_<component>_processing_duration_seconds), whatever the service is called.',
          expr: [
            `(${serviceRate(anyComponent('processing_duration_seconds_count', 'outcome="failure"'), failWindow, ['operation'])}`,
            ` or ${serviceRate(anyComponent('processing_duration_seconds_count'), failWindow, ['operation'])} * 0)`,
            '/',
            serviceRate(anyComponent('processing_duration_seconds_count'), failWindow, ['operation']),
          ].join('\n'),
        },
      ],
    },
    {
      name: 'lookout-postgres',
      why: "PostgreSQL's buffer cache hit ratio per database (postgres_exporter's pg_stat_database counters).",
      rules: [
        {
          record: recorded.blockReads(hitWindow),
          expr: `sum by (datname) (rate(pg_stat_database_blks_hit[${hitWindow}])) + sum by (datname) (rate(pg_stat_database_blks_read[${hitWindow}]))`,
        },
        {
          record: recorded.cacheHitRatio(hitWindow),
          expr: `sum by (datname) (rate(pg_stat_database_blks_hit[${hitWindow}]))\n/\n${recorded.blockReads(hitWindow)}`,
        },
      ],
    },
  ];
}
