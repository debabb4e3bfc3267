// OTEL_METRICS_EXPORTER=prometheus: upstream's PrometheusExporter serving /metrics under the names and labels
// Prometheus's own OTLP ingestion gives the same metrics (docs/metrics.md), so the stack's rules and dashboards
// read a scrape as they read the Collector's push. Upstream appends no unit to a name
// (open-telemetry/opentelemetry-js#3466); ours adds it as the Prometheus compatibility spec and Prometheus's
// default translation (UnderscoreEscapingWithSuffixes) do: http.server.request.duration in `s` is served as
// http_server_request_duration_seconds. Loaded only when prometheus is named.
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type CollectionResult, type MetricCollectOptions, type MetricData, type MetricReader } from '@opentelemetry/sdk-metrics';
import { prometheusMetricName } from './prometheus-name.js';

// The resource attributes prometheus.yml promotes to labels on OTLP ingestion (its otlp.promote_resource_attributes),
// put on every series here for the same reason: rules select by service_name without a join on target_info.
const PROMOTED_RESOURCE_ATTRIBUTES = /^(service\.name|service\.namespace|deployment\.environment\.name)$/;

/** Serves /metrics on host:port; `started` is told when the server listens or failed to. */
export function createPrometheusReader(host: string, port: number, started: (error?: unknown) => void): MetricReader {
  return new PrometheusExporterWithUnits({ host, port, withResourceConstantLabels: PROMOTED_RESOURCE_ATTRIBUTES }, started);
}

class PrometheusExporterWithUnits extends PrometheusExporter {
  // Each scrape collects through here; upstream's serializer then escapes the names and adds _total to counters.
  override async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    const result = await super.collect(options);
    const { resourceMetrics } = result;
    return {
      ...result,
      resourceMetrics: {
        ...resourceMetrics,
        scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({ ...scope, metrics: scope.metrics.map(withPrometheusName) })),
      },
    };
  }
}

function withPrometheusName(metric: MetricData): MetricData {
  const kind = metric.dataPointType === DataPointType.SUM && metric.isMonotonic ? 'counter' : metric.dataPointType === DataPointType.GAUGE ? 'gauge' : 'other';
  const { name, unit } = prometheusMetricName(metric.descriptor.name, metric.descriptor.unit, kind);
  return { ...metric, descriptor: { ...metric.descriptor, name, unit } };
}
