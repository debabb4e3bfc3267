// OTEL_METRICS_EXPORTER=prometheus: upstream's PrometheusExporter serving /metrics under the names and labels
// Prometheus's own OTLP ingestion gives the same metrics (docs/metrics.md), so the stack's rules and dashboards
// read a scrape as they read the Collector's push. Upstream appends no unit to a name
// (open-telemetry/opentelemetry-js#3466); ours adds it as the Prometheus compatibility spec and Prometheus's
// default translation (UnderscoreEscapingWithSuffixes) do: http.server.request.duration in `s` is served as
// http_server_request_duration_seconds. Loaded only when prometheus is named.
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type CollectionResult, type MetricCollectOptions, type MetricData, type MetricReader } from '@opentelemetry/sdk-metrics';

// The resource attributes prometheus.yml promotes to labels on OTLP ingestion (its otlp.promote_resource_attributes),
// put on every series here for the same reason: rules select by service_name without a join on target_info.
const PROMOTED_RESOURCE_ATTRIBUTES = /^(service\.name|service\.namespace|deployment\.environment\.name)$/;

const UNITS: Record<string, string> = {
  d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', TiBy: 'tibibytes', KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes', TBy: 'terabytes',
  m: 'meters', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams', Cel: 'celsius', Hz: 'hertz', '1': '', '%': 'percent',
};
const PER_UNITS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

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
  const { name, unit } = prometheusName(metric);
  return { ...metric, descriptor: { ...metric.descriptor, name, unit } };
}

/**
 * The name Prometheus gives an OTLP metric (prometheus/otlptranslator's normalizeName): tokens of the name,
 * the unit's words unless the name has them (`{annotations}` give none, `X/Y` gives x_per_y), `total` last on
 * counters, `ratio` on gauges of unit 1. The unit metadata becomes the suffix, as OpenMetrics asks.
 */
function prometheusName(metric: MetricData): { name: string; unit: string } {
  const { name, unit } = metric.descriptor;
  let parts = name.split(/[^a-zA-Z0-9:]+/).filter(Boolean);
  const slash = unit.indexOf('/');
  const usable = (u: string) => u.trim() !== '' && !/[{}]/.test(u);
  const clean = (u: string) => u.replace(/[^a-zA-Z0-9:]/g, '_').replace(/__+/g, '_').replace(/^_|_$/g, '');
  const [mainUnit, perUnit] = slash < 0 ? [unit, ''] : [unit.slice(0, slash), unit.slice(slash + 1)];
  const main = usable(mainUnit) ? clean(UNITS[mainUnit.trim()] ?? mainUnit.trim()) : '';
  const per = usable(perUnit) ? clean(`per_${PER_UNITS[perUnit.trim()] ?? perUnit.trim()}`) : '';
  const suffix = [main, per].filter((s) => s !== '' && !parts.includes(s));
  parts = [...parts, ...suffix];
  if (metric.dataPointType === DataPointType.SUM && metric.isMonotonic) parts = [...parts.filter((t) => t !== 'total'), 'total'];
  if (metric.dataPointType === DataPointType.GAUGE && unit === '1') parts = [...parts.filter((t) => t !== 'ratio'), 'ratio'];
  const joined = parts.join('_');
  return { name: /^[0-9]/.test(joined) ? `_${joined}` : joined, unit: suffix.join('_') };
}
