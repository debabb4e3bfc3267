// PromQL fragments the rules share, so a selector or label rewrite is written once.
import { http, type Duration } from './config.js';

/** `service` from the scrape job, for series with no service_name; an OTLP job's namespace is dropped (`lookout/host` -> `host`). */
export const asJobService = (expr: string): string => `label_replace(${expr}, "service", "$1", "job", "(?:.*/)?(.+)")`;

/** Copies the service's promoted `service_name` into the `service` label every rule output carries. */
export const asService = (expr: string, from: string = http.serviceLabel): string => `label_replace(${expr}, "service", "$1", "${from}", "(.+)")`;

/** `sum by (service, …) (rate(metric[window]))`, with `service` taken from service_name. */
export const serviceRate = (selector: string, window: Duration, by: string[] = []): string =>
  `sum by (${['service', ...by].join(', ')}) (${asService(`rate(${selector}[${window}])`)})`;

// The agent's HTTP server histogram (stable semantic conventions, seconds).
export const httpRequests = 'http_server_request_duration_seconds_count';
export const httpServerErrors = `${httpRequests}{http_response_status_code=~"5.."}`;
export const httpBuckets = 'http_server_request_duration_seconds_bucket';

/** A metric name pattern matching every component's instrument, whatever the service calls itself. */
export const anyComponent = (suffix: string, matchers = ''): string => `{__name__=~"lookout_[a-z0-9_]+_${suffix}"${matchers ? `, ${matchers}` : ''}}`;

/** "0.95" -> "p95", "0.5" -> "p50", "0.999" -> "p999". */
export const quantileName = (quantile: number): string => `p${String(quantile).replace(/^0\./, '').padEnd(2, '0')}`;

export const recorded = {
  requestRate: (window: Duration) => `service:http_server_requests:rate${window}`,
  errorRate: (window: Duration) => `service:http_server_errors:rate${window}`,
  errorRatio: (window: Duration) => `service:http_server_errors:ratio_rate${window}`,
  latency: (quantile: number, window: Duration) => `service:http_server_request_duration_seconds:${quantileName(quantile)}_${window}`,
  streamLag: (quantile: number, window: Duration) => `service:lookout_audit_stream_lag_seconds:${quantileName(quantile)}_${window}`,
  cacheHitRatio: (window: Duration) => `datname:pg_stat_database_blks_hit:ratio_rate${window}`,
  blockReads: (window: Duration) => `datname:pg_stat_database_blks:rate${window}`,
  processingFailureRatio: (window: Duration) => `service:lookout_processing_failures:ratio_rate${window}`,
} as const;
