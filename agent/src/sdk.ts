// Starts the OpenTelemetry SDK through @opentelemetry/sdk-node's NodeSDK, given every part: resource,
// sampler, propagator, context manager, processors and metric readers, so none of its OTEL_* fallbacks runs
// (build-preload.mjs leaves the exporters those would load out of the bundle), then the instrumentations.
import { fileURLToPath } from 'node:url';
import { diag, DiagConsoleLogger, DiagLogLevel, metrics, logs, type Counter, type LoggerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AggregationType, MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace';
import type { AgentConfig } from './config.js';
import { ErrorCounter, ErrorFingerprintSpanProcessor, ErrorLogRecordProcessor } from './errors.js';
import { logRecordProcessors, metricReaders, spanProcessors } from './exporter-choice.js';
import type { ExportStats } from './exporters.js';
import type { InstrumentationPlan } from './instrumentations.js';
import { registerProcessMetrics } from './process-metrics.js';
import { buildPropagator } from './propagators.js';
import { RedactingLogRecordProcessor, RedactingSpanProcessor } from './redacting-processors.js';
import { installRedactionPolicy } from './redact.js';
import { currentRequestId, requestIdOf } from './request-id.js';
import { buildResource } from './resource.js';

/**
 * This package's built files: the preload bundle runs from dist/preload/, the library half from dist/. An
 * error the agent makes (for a thrown value that is not an Error) has only these frames: none is the app's.
 */
const AGENT_FILES = fileURLToPath(new URL('../', import.meta.url));

/** Latency buckets (seconds) fit for SLOs at 100 ms, 250 ms, 500 ms, 1 s, 2 s and 5 s. */
export const HTTP_DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2, 2.5, 5, 7.5, 10];

export interface RunningSdk {
  /** Flushes and stops the SDK. */
  shutdown(): Promise<void>;
  /** Flushes without stopping (the app is still running). */
  flush(): Promise<void>;
}

export async function startSdk(config: AgentConfig, plan: InstrumentationPlan): Promise<RunningSdk> {
  setDiagLogger(config.logLevel);
  const redaction = installRedactionPolicy(config.redactKeys, config.redactClasses);
  const resource = await buildResource(config, redaction);
  const stats = exportStats();
  const [propagator, readers] = await Promise.all([buildPropagator(config.propagators), metricReaders(config, stats)]);

  // Built here, not by NodeSDK (it would make one in start(), from these readers): the batch processors
  // below count their queue-full drops (otel.sdk.processor.*.processed) into it from their constructors.
  const meterProvider = new MeterProvider({ resource, views: histogramViews(), readers });
  // Redaction runs first in each list, so what any exporter receives is already clean. With a signal's
  // exporter set to none the provider still exists: spans carry context into logs and outgoing calls.
  const spans = spanProcessors(config, stats, meterProvider);
  const logRecords = logRecordProcessors(config, stats, meterProvider);
  // Fingerprints right after redaction, so a message they fall back on is the one exported.
  const fingerprints = { root: config.appRoot, skip: [AGENT_FILES] };
  const errors = new ErrorCounter(meterProvider.getMeter('@lookout/agent'), config.errorsMaxFingerprints);
  // NodeSDK's constructor sets a diagnostics logger of its own when OTEL_LOG_LEVEL is set (info for a value
  // it does not know, with a warning that it replaced ours); ours, from the validated config, goes back after.
  diag.disable();
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false, // detected above, with local detectors only
    sampler: buildSampler(config),
    textMapPropagator: propagator,
    contextManager: new AsyncLocalStorageContextManager(),
    spanProcessors: [new RedactingSpanProcessor(redaction), new ErrorFingerprintSpanProcessor(fingerprints, errors), ...spans],
    logRecordProcessors: [new RedactingLogRecordProcessor(redaction), new ErrorLogRecordProcessor(fingerprints), ...logRecords],
    metricReaders: [], // they are the meter provider's above
  });
  setDiagLogger(config.logLevel);
  sdk.start();
  metrics.setGlobalMeterProvider(meterProvider);
  await bridgeLegacyLogsApi(logs.getLoggerProvider());

  const instrumentations = await plan.build({
    requestIdOf,
    winstonLogHook: (record) => {
      const requestId = currentRequestId();
      if (requestId !== undefined && record.request_id === undefined) record.request_id = requestId;
    },
  });
  // The tracer and logger providers are the global ones NodeSDK registered.
  registerInstrumentations({ instrumentations, meterProvider });
  if (plan.names.includes('runtime-node')) registerProcessMetrics(meterProvider.getMeter('@lookout/agent'));

  return {
    async shutdown() {
      // Traces and logs first (NodeSDK's providers): their exports may record into metrics, which then go out last.
      await sdk.shutdown().catch(() => undefined);
      await meterProvider.shutdown().catch(() => undefined);
    },
    async flush() {
      await Promise.allSettled([...spans, ...logRecords].map((p) => p.forceFlush()).concat(meterProvider.forceFlush()));
    },
  };
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

function setDiagLogger(level: AgentConfig['logLevel']): void {
  if (level === 'none') diag.disable();
  else diag.setLogger(new DiagConsoleLogger(), { logLevel: DIAG_LEVELS[level], suppressOverrideMessage: true });
}

const DIAG_LEVELS: Record<Exclude<AgentConfig['logLevel'], 'none'>, DiagLogLevel> = {
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};
