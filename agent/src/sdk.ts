// Assembles the OpenTelemetry SDK from upstream parts: resource, providers, processors, exporters,
// instrumentations and views. This is what NodeSDK.start() does, minus the ~240 ms of loading
// exporters, propagators and detectors we never use (measured with sdk-node 0.301 on Node 24).
import { context, diag, DiagConsoleLogger, DiagLogLevel, metrics, propagation, trace, logs, SeverityNumber, type Counter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  type Resource,
} from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader, type ViewOptions } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { AgentConfig } from './config.js';
import { createLogExporter, createMetricExporter, createSpanExporter, type ExportStats } from './exporters.js';
import type { InstrumentationPlan } from './instrumentations.js';
import { registerProcessMetrics } from './process-metrics.js';
import { RedactingLogRecordProcessor, RedactingSpanProcessor } from './redacting-processors.js';
import { createRedactionPolicy } from './redact.js';
import { currentRequestId, requestIdOf } from './request-id.js';

/** Latency buckets (seconds) fit for SLOs at 100 ms, 250 ms, 500 ms, 1 s, 2 s and 5 s. */
export const HTTP_DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2, 2.5, 5, 7.5, 10];

export interface RunningSdk {
  shutdown(): Promise<void>;
  flush(): Promise<void>;
  recordFatal(error: unknown, origin: string): void;
}

export async function startSdk(config: AgentConfig, plan: InstrumentationPlan): Promise<RunningSdk> {
  if (config.logLevel !== 'none') {
    diag.setLogger(new DiagConsoleLogger(), { logLevel: DIAG_LEVELS[config.logLevel], suppressOverrideMessage: true });
  }
  const redaction = createRedactionPolicy(config.redactKeys);
  const resource = await buildResource(config);
  const stats = exportStats();

  const meterProvider = new MeterProvider({
    resource,
    views: histogramViews(),
    readers: config.signals.has('metrics')
      ? [
          new PeriodicExportingMetricReader({
            exporter: createMetricExporter(stats),
            exportIntervalMillis: config.metricExportIntervalMillis,
            exportTimeoutMillis: Math.min(config.metricExportTimeoutMillis, config.metricExportIntervalMillis),
          }),
        ]
      : [],
  });

  const spanProcessors: SpanProcessor[] = [new RedactingSpanProcessor(redaction)];
  if (config.signals.has('traces')) {
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: createSpanExporter(config.spans.maxQueueSize, stats),
        ...config.spans,
        // Queue-full drops are counted by the SDK's own otel.sdk.processor.span.processed metric.
        selfObsMeterProvider: meterProvider,
      }),
    );
  }
  const tracerProvider = new TracerProvider({ resource, sampler: buildSampler(config), spanProcessors });

  const logProcessors: LogRecordProcessor[] = [new RedactingLogRecordProcessor(redaction)];
  if (config.signals.has('logs')) {
    logProcessors.push(
      new BatchLogRecordProcessor({
        exporter: createLogExporter(config.logs.maxQueueSize, stats),
        ...config.logs,
        selfObsMeterProvider: meterProvider,
      }),
    );
  }
  const loggerProvider = new LoggerProvider({ resource, processors: logProcessors });

  const contextManager = new AsyncLocalStorageContextManager();
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  logs.setGlobalLoggerProvider(loggerProvider);
  await bridgeLegacyLogsApi(loggerProvider);

  const instrumentations = await plan.build({
    requestIdOf,
    winstonLogHook: (record) => {
      const requestId = currentRequestId();
      if (requestId !== undefined && record.request_id === undefined) record.request_id = requestId;
    },
  });
  registerInstrumentations({ instrumentations, tracerProvider, meterProvider, loggerProvider });
  if (plan.names.includes('runtime-node')) registerProcessMetrics(meterProvider.getMeter('@lookout/agent'));

  const fatalLogger = loggerProvider.getLogger('@lookout/agent');
  return {
    async shutdown() {
      // Traces and logs first: their exports may record into metrics, which then go out last.
      await Promise.allSettled([tracerProvider.shutdown(), loggerProvider.shutdown()]);
      await meterProvider.shutdown().catch(() => undefined);
    },
    async flush() {
      await Promise.allSettled([tracerProvider.forceFlush(), loggerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    recordFatal(error, origin) {
      const err = error instanceof Error ? error : new Error(String(error));
      const span = trace.getActiveSpan();
      span?.recordException(err);
      fatalLogger.emit({
        severityNumber: SeverityNumber.FATAL,
        severityText: 'FATAL',
        body: `${origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception'}: ${err.message}`,
        attributes: {
          'exception.type': err.name,
          'exception.message': err.message,
          'exception.stacktrace': err.stack ?? '',
        },
      });
      const spanContext = span?.spanContext();
      process.stderr.write(
        `${JSON.stringify({
          timestamp: new Date().toISOString(),
          level: 'fatal',
          message: `${origin}: ${err.message}`,
          'service.name': config.serviceName,
          ...(spanContext ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {}),
          'exception.type': err.name,
          'exception.stacktrace': err.stack,
        })}\n`,
      );
    },
  };
}

async function buildResource(config: AgentConfig): Promise<Resource> {
  // Local detectors only: the cloud detectors probe metadata addresses off this machine at startup.
  const detectors = [envDetector, hostDetector, osDetector, processDetector, serviceInstanceIdDetector];
  const { containerDetector } = await import('@opentelemetry/resource-detector-container');
  detectors.push(containerDetector);
  const ours = resourceFromAttributes({
    'service.name': config.serviceName,
    ...(config.serviceVersion ? { 'service.version': config.serviceVersion } : {}),
    ...(config.deploymentEnvironment ? { 'deployment.environment.name': config.deploymentEnvironment } : {}),
    'telemetry.distro.name': '@lookout/agent',
    'telemetry.distro.version': AGENT_VERSION,
  });
  const detected = detectResources({ detectors });
  // Explicit configuration wins over detection; OTEL_RESOURCE_ATTRIBUTES is folded into `ours` above.
  return detected.merge(ours);
}

function buildSampler(config: AgentConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function histogramViews(): ViewOptions[] {
  return ['http.server.request.duration', 'http.client.request.duration'].map((instrumentName) => ({
    instrumentName,
    aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: HTTP_DURATION_BUCKETS_SECONDS } },
  }));
}

/**
 * The winston transport still emits through the deprecated @opentelemetry/api-logs global, while the SDK
 * registers with @opentelemetry/api's `logs`. Point the old global at the same provider or winston records
 * never reach an exporter.
 */
async function bridgeLegacyLogsApi(provider: LoggerProvider): Promise<void> {
  const legacy = await import('@opentelemetry/api-logs');
  legacy.logs.setGlobalLoggerProvider(provider as unknown as Parameters<typeof legacy.logs.setGlobalLoggerProvider>[0]);
}

/**
 * Counters for what the exporters gave up on. Created on first use through the global API: exports only
 * happen after the meter provider is registered, and the metric exporter itself needs these counters.
 */
function exportStats(): ExportStats {
  let counters: { dropped: Counter; failures: Counter } | undefined;
  const get = () => {
    counters ??= {
      dropped: metrics.getMeter('@lookout/agent').createCounter('lookout.agent.telemetry.dropped', {
        unit: '{item}',
        description: 'Spans and log records the agent gave up exporting (retry buffer full or shut down undelivered)',
      }),
      failures: metrics.getMeter('@lookout/agent').createCounter('lookout.agent.export.failures', {
        unit: '{export}',
        description: 'OTLP export calls that failed (the items may still be retried)',
      }),
    };
    return counters;
  };
  return {
    dropped: (signal, count) => get().dropped.add(count, { signal }),
    failed: (signal) => get().failures.add(1, { signal }),
  };
}

const AGENT_VERSION = '0.1.0';

const DIAG_LEVELS: Record<Exclude<AgentConfig['logLevel'], 'none'>, DiagLogLevel> = {
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};
