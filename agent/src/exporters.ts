// OTLP exporters (gRPC, HTTP/protobuf or HTTP/JSON) wrapped so that a missing, slow or refusing collector
// never hurts the app: the exporter and its gRPC or HTTP stack load on the first export (off the startup
// path), failures warn once a minute per signal, and spans and log records of a failed export wait in a
// bounded buffer for the next one.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableLogRecord, LogRecordExporter } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { BatchConfig, OtlpProtocol, Signal } from './config.js';
import { warnThrottled } from './warn.js';

const RETRY_DELAY_MS = 5000;
/** Concurrent sends per signal; more batches wait in the buffer (bounded by the queue size). */
const MAX_IN_FLIGHT = 2;

interface ItemExporter<T> {
  export(items: T[], done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

export interface ExportStats {
  /** Items given up on (buffer full or shut down while undelivered). */
  dropped(signal: Signal, count: number): void;
  /** An export call that failed (it may be retried). */
  failed(signal: Signal): void;
}

/**
 * Delegates to an exporter built on first use. A failed batch is kept (up to `retryLimit` items, oldest
 * dropped first) and sent in front of the next batch, so a collector that restarts loses nothing recent.
 *
 * The SDK's batch processor is answered at once: until an export calls back it holds a ref'd timer of
 * exportTimeoutMillis (30 s), which kept a finished app alive while a collector hung. What is in flight is
 * ours to bound instead: at most MAX_IN_FLIGHT sends per signal; what arrives meanwhile waits in the buffer.
 */
export class ResilientExporter<T> implements ItemExporter<T> {
  private exporter: Promise<ItemExporter<T>> | undefined;
  private pending: T[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly signal: Signal,
    private readonly load: () => Promise<ItemExporter<T>>,
    private readonly retryLimit: number,
    /** Items per send (OTEL_BSP/BLRP_MAX_EXPORT_BATCH_SIZE): a backlog goes out in batches the collector accepts (its gRPC limit is 4 MiB a message). */
    private readonly batchLimit: number,
    private readonly stats: ExportStats,
  ) {}

  export(items: T[], done: (result: ExportResult) => void): void {
    this.keep(items);
    done({ code: ExportResultCode.SUCCESS });
    this.pump();
  }

  async forceFlush(): Promise<void> {
    // Everything buffered gets sent; after a failure the rest waits for the retry timer (or shutdown counts it).
    const failuresBefore = this.failures;
    while (this.failures === failuresBefore) {
      this.pump();
      if (this.inFlight.size === 0) break;
      await Promise.all(this.inFlight);
    }
    // Nothing was ever exported: no reason to load the exporter just to flush nothing (a short script's exit).
    if (this.exporter) await (await this.exporter).forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.forceFlush().catch(() => undefined);
    if (this.pending.length > 0) this.stats.dropped(this.signal, this.pending.length);
    this.pending = [];
    clearTimeout(this.retryTimer);
    if (this.exporter) await (await this.exporter).shutdown();
  }

  /** Sends what is buffered while a send slot is free. */
  private pump(): void {
    while (this.inFlight.size < MAX_IN_FLIGHT && this.pending.length > 0) {
      const batch = this.pending.length > this.batchLimit ? this.pending.splice(0, this.batchLimit) : this.pending;
      if (batch === this.pending) this.pending = [];
      const sent: Promise<void> = this.send(batch).finally(() => {
        this.inFlight.delete(sent);
        // After a failure the retry timer resumes; otherwise send what arrived meanwhile.
        if (this.retryTimer === undefined) this.pump();
      });
      this.inFlight.add(sent);
    }
  }

  private send(batch: T[]): Promise<void> {
    return this.delegate()
      .then(
        (exporter) =>
          new Promise<void>((resolve) =>
            exporter.export(batch, (result) => {
              if (result.code !== ExportResultCode.SUCCESS) this.failed(batch, result.error);
              resolve();
            }),
          ),
      )
      .catch((error: unknown) => this.failed(batch, error));
  }

  /** Adds to the buffer, oldest out first beyond the limit. */
  private keep(items: T[]): void {
    const kept = this.pending.length > 0 ? this.pending.concat(items) : items;
    const overflow = kept.length - this.retryLimit;
    if (overflow > 0) this.stats.dropped(this.signal, overflow);
    this.pending = overflow > 0 ? kept.slice(overflow) : kept;
  }

  private failed(batch: T[], error: unknown): void {
    this.failures++;
    this.stats.failed(this.signal);
    if (!isTransient(error)) {
      // Rejected, not unreachable (too large, unauthenticated, invalid): sending it again cannot help.
      this.stats.dropped(this.signal, batch.length);
      warnThrottled(`reject-${this.signal}`, `the OTLP collector rejected ${batch.length} ${this.signal} items (${describe(error)}); they are dropped and counted in lookout.agent.telemetry.dropped`);
      return;
    }
    // In front of what arrived meanwhile (it is older), oldest out first beyond the limit.
    this.pending = this.pending.length > 0 ? batch.concat(this.pending) : batch;
    this.keep([]);
    // Without new telemetry nothing would send again; try on our own, off the event loop's books.
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, RETRY_DELAY_MS).unref();
    warnThrottled(
      `export-${this.signal}`,
      `cannot export ${this.signal} to the OTLP collector (${describe(error)}); keeping up to ${this.retryLimit} for the next attempt, older ones are dropped and counted in lookout.agent.telemetry.dropped`,
    );
  }

  private delegate(): Promise<ItemExporter<T>> {
    this.exporter ??= this.load();
    return this.exporter;
  }
}

/** Metrics are cumulative, so a failed export needs no retry: the next one carries the totals. */
export class ResilientMetricExporter implements PushMetricExporter {
  private exporter: Promise<PushMetricExporter> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly load: () => Promise<PushMetricExporter>,
    private readonly stats: ExportStats,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    // Answered at once, as ResilientExporter does: the metric reader's ref'd timeout must not hold the app.
    done({ code: ExportResultCode.SUCCESS });
    // A collision with a send still in flight: skip, the next export carries the totals.
    if (this.inFlight.size >= MAX_IN_FLIGHT) return;
    const sent: Promise<void> = this.delegate()
      .then(
        (exporter) =>
          new Promise<void>((resolve) =>
            exporter.export(metrics, (result) => {
              if (result.code !== ExportResultCode.SUCCESS) this.fail(result.error);
              resolve();
            }),
          ),
      )
      .catch((error: unknown) => this.fail(error))
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  selectAggregationTemporality(): AggregationTemporality {
    // Prometheus's native OTLP endpoint rejects delta temporality.
    return AggregationTemporality.CUMULATIVE;
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.exporter) await (await this.exporter).forceFlush();
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.exporter) await (await this.exporter).shutdown();
  }

  private fail(error: unknown): void {
    this.stats.failed('metrics');
    warnThrottled('export-metrics', `cannot export metrics to the OTLP collector (${describe(error)}); the next export carries the cumulative totals`);
  }

  private delegate(): Promise<PushMetricExporter> {
    this.exporter ??= this.load();
    return this.exporter;
  }
}

// One upstream package per protocol and signal, each a chunk of its own that loads only when chosen.
// Constructed without options, each reads its endpoint, headers, timeout, compression and TLS from the
// OTEL_EXPORTER_OTLP_* variables as the spec says (for HTTP, /v1/<signal> is appended to the shared endpoint,
// not to a per-signal one; the default is http://localhost:4317 for gRPC, http://localhost:4318 for HTTP).
const SPAN_EXPORTERS: Record<OtlpProtocol, () => Promise<SpanExporter>> = {
  grpc: async () => new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter(),
  'http/protobuf': async () => new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(),
  'http/json': async () => new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(),
};

const LOG_EXPORTERS: Record<OtlpProtocol, () => Promise<LogRecordExporter>> = {
  grpc: async () => new (await import('@opentelemetry/exporter-logs-otlp-grpc')).OTLPLogExporter(),
  'http/protobuf': async () => new (await import('@opentelemetry/exporter-logs-otlp-proto')).OTLPLogExporter(),
  'http/json': async () => new (await import('@opentelemetry/exporter-logs-otlp-http')).OTLPLogExporter(),
};

const CUMULATIVE = { temporalityPreference: AggregationTemporality.CUMULATIVE };
const METRIC_EXPORTERS: Record<OtlpProtocol, () => Promise<PushMetricExporter>> = {
  grpc: async () => new (await import('@opentelemetry/exporter-metrics-otlp-grpc')).OTLPMetricExporter(CUMULATIVE),
  'http/protobuf': async () => new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(CUMULATIVE),
  'http/json': async () => new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(CUMULATIVE),
};

/** Every OTLP exporter, made unable to hold the process open; loop-release.ts (and node:http2 with it) loads with the first export, off the startup path. */
async function released<T>(exporter: Promise<T>): Promise<T> {
  const [{ releasingEventLoop }, built] = await Promise.all([import('./loop-release.js'), exporter]);
  return releasingEventLoop(built);
}

export function createSpanExporter(protocol: OtlpProtocol, batching: BatchConfig, stats: ExportStats): SpanExporter {
  return new ResilientExporter<ReadableSpan>('traces', () => released(SPAN_EXPORTERS[protocol]()), batching.maxQueueSize, batching.maxExportBatchSize, stats);
}

export function createLogExporter(protocol: OtlpProtocol, batching: BatchConfig, stats: ExportStats): LogRecordExporter {
  return new ResilientExporter<ReadableLogRecord>('logs', () => released(LOG_EXPORTERS[protocol]()), batching.maxQueueSize, batching.maxExportBatchSize, stats);
}

export function createMetricExporter(protocol: OtlpProtocol, stats: ExportStats): PushMetricExporter {
  return new ResilientMetricExporter(() => released(METRIC_EXPORTERS[protocol]()), stats);
}

/**
 * Unreachable, overloaded or timed out: worth another try. gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4);
 * HTTP 429, 502, 503 and 504 (upstream's isExportHTTPErrorRetryable), which the HTTP exporters report as a
 * "retryable status" once their own retries ran out; socket errors.
 */
function isTransient(error: unknown): boolean {
  if (error === undefined) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return code === 14 || code === 4 || code === 429 || code === 502 || code === 503 || code === 504;
  return /UNAVAILABLE|DEADLINE_EXCEEDED|retryable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|timed? ?out/i.test(describe(error));
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return error === undefined ? 'export failed' : String(error);
}
