// The exporters chosen per signal (OTEL_<SIGNAL>_EXPORTER) as the SDK's parts: span and log record
// processors and metric readers. `otlp` batches into the resilient OTLP exporter of the signal's protocol;
// `console` writes each span and log record to stdout as it ends, and metrics at each interval (local
// debugging); `prometheus` serves /metrics for a scraper.
import type { MeterProvider } from '@opentelemetry/api';
import { BatchLogRecordProcessor, ConsoleLogRecordExporter, SimpleLogRecordProcessor, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { ConsoleMetricExporter, PeriodicExportingMetricReader, type IMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { AgentConfig } from './config.js';
import { createLogExporter, createMetricExporter, createSpanExporter, type ExportStats } from './exporters.js';
import { warn } from './warn.js';

/**
 * One processor per exporter of OTEL_TRACES_EXPORTER. `selfObs` receives the processors' own metrics
 * (otel.sdk.processor.span.*: queue size, and spans dropped when the queue is full).
 */
export function spanProcessors(config: AgentConfig, stats: ExportStats, selfObs: MeterProvider): SpanProcessor[] {
  return config.exporters.traces.map((name) =>
    name === 'console'
      ? new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter(), selfObsMeterProvider: selfObs })
      : new BatchSpanProcessor({
          exporter: createSpanExporter(config.protocols.traces, config.spans, stats),
          ...config.spans,
          selfObsMeterProvider: selfObs,
        }),
  );
}

/** One processor per exporter of OTEL_LOGS_EXPORTER, as for spans. */
export function logRecordProcessors(config: AgentConfig, stats: ExportStats, selfObs: MeterProvider): LogRecordProcessor[] {
  return config.exporters.logs.map((name) =>
    name === 'console'
      ? new SimpleLogRecordProcessor({ exporter: new ConsoleLogRecordExporter(), selfObsMeterProvider: selfObs })
      : new BatchLogRecordProcessor({
          exporter: createLogExporter(config.protocols.logs, config.logs, stats),
          ...config.logs,
          selfObsMeterProvider: selfObs,
        }),
  );
}

/** One reader per exporter of OTEL_METRICS_EXPORTER; the Prometheus exporter's module loads only when named. */
export async function metricReaders(config: AgentConfig, stats: ExportStats): Promise<IMetricReader[]> {
  const periodic = (exporter: PushMetricExporter) =>
    new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: config.metricExportIntervalMillis,
      exportTimeoutMillis: config.metricExportTimeoutMillis, // clamped to the interval in config.ts
    });
  return Promise.all(
    config.exporters.metrics.map(async (name) => {
      switch (name) {
        case 'prometheus':
          return prometheusReader(config.prometheus);
        case 'console':
          return periodic(new ConsoleMetricExporter());
        case 'otlp':
          return periodic(createMetricExporter(config.protocols.metrics, stats));
      }
    }),
  );
}

/** Serves /metrics on host:port; a port already taken warns, and the app runs on. */
async function prometheusReader({ host, port }: AgentConfig['prometheus']): Promise<IMetricReader> {
  const { createPrometheusReader } = await import('./prometheus-reader.js');
  return createPrometheusReader(host, port, (error) => {
    if (error) warn(`cannot serve Prometheus metrics on ${host}:${port} (${(error as Error).message ?? String(error)}); nothing can be scraped from this process`);
  });
}
