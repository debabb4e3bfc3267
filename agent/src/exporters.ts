// OTLP/gRPC exporters wrapped so that a missing, slow or refusing collector never hurts the app:
// the gRPC stack loads on the first export (off the startup path), failures warn once a minute per
// signal, and spans and log records of a failed export wait in a bounded buffer for the next one.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableLogRecord, LogRecordExporter } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { Signal } from './config.js';
import { warnThrottled } from './warn.js';

const RETRY_DELAY_MS = 5000;

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
 */
export class ResilientExporter<T> implements ItemExporter<T> {
  private exporter: Promise<ItemExporter<T>> | undefined;
  private pending: T[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly signal: Signal,
    private readonly load: () => Promise<ItemExporter<T>>,
    private readonly retryLimit: number,
    private readonly stats: ExportStats,
  ) {}

  export(items: T[], done: (result: ExportResult) => void): void {
    const batch = this.pending.length > 0 ? this.pending.concat(items) : items;
    this.pending = [];
    // Tell the SDK the batch is handled either way: retrying is our job, and its own failure path only logs.
    const handled = () => done({ code: ExportResultCode.SUCCESS });
    this.delegate().then(
      (exporter) => {
        try {
          exporter.export(batch, (result) => {
            if (result.code !== ExportResultCode.SUCCESS) this.failed(batch, result.error);
            handled();
          });
        } catch (error) {
          this.failed(batch, error);
          handled();
        }
      },
      (error: unknown) => {
        this.failed(batch, error);
        handled();
      },
    );
  }

  async forceFlush(): Promise<void> {
    if (this.pending.length > 0) {
      const retry = this.pending;
      this.pending = [];
      await new Promise<void>((resolve) => this.export(retry, () => resolve()));
    }
    // Nothing was ever exported: no reason to load the gRPC stack just to flush nothing (a short script's exit).
    if (this.exporter) await (await this.exporter).forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.forceFlush().catch(() => undefined);
    if (this.pending.length > 0) this.stats.dropped(this.signal, this.pending.length);
    this.pending = [];
    if (this.exporter) await (await this.exporter).shutdown();
  }

  private failed(batch: T[], error: unknown): void {
    this.stats.failed(this.signal);
    if (!isTransient(error)) {
      // Rejected, not unreachable (too large, unauthenticated, invalid): sending it again cannot help.
      this.stats.dropped(this.signal, batch.length);
      warnThrottled(`reject-${this.signal}`, `the OTLP collector rejected ${batch.length} ${this.signal} items (${describe(error)}); they are dropped and counted in lookout.agent.telemetry.dropped`);
      return;
    }
    // Exports can fail concurrently (a flush sends several batches at once): add to what is kept, oldest out first.
    const kept = this.pending.length > 0 ? this.pending.concat(batch) : batch;
    const overflow = kept.length - this.retryLimit;
    if (overflow > 0) this.stats.dropped(this.signal, overflow);
    this.pending = overflow > 0 ? kept.slice(overflow) : kept;
    // Without new telemetry nothing would call export again; try on our own, off the event loop's books.
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      if (this.pending.length > 0) this.export([], () => undefined);
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

  constructor(
    private readonly load: () => Promise<PushMetricExporter>,
    private readonly stats: ExportStats,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.delegate().then(
      (exporter) =>
        exporter.export(metrics, (result) => {
          if (result.code !== ExportResultCode.SUCCESS) this.fail(result.error);
          done({ code: ExportResultCode.SUCCESS });
        }),
      (error: unknown) => {
        this.fail(error);
        done({ code: ExportResultCode.SUCCESS });
      },
    );
  }

  selectAggregationTemporality(): AggregationTemporality {
    // Prometheus's native OTLP endpoint rejects delta temporality.
    return AggregationTemporality.CUMULATIVE;
  }

  async forceFlush(): Promise<void> {
    if (this.exporter) await (await this.exporter).forceFlush();
  }

  async shutdown(): Promise<void> {
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

export function createSpanExporter(retryLimit: number, stats: ExportStats): SpanExporter {
  return new ResilientExporter<ReadableSpan>(
    'traces',
    async () => new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter(),
    retryLimit,
    stats,
  );
}

export function createLogExporter(retryLimit: number, stats: ExportStats): LogRecordExporter {
  return new ResilientExporter<ReadableLogRecord>(
    'logs',
    async () => new (await import('@opentelemetry/exporter-logs-otlp-grpc')).OTLPLogExporter(),
    retryLimit,
    stats,
  );
}

export function createMetricExporter(stats: ExportStats): PushMetricExporter {
  return new ResilientMetricExporter(async () => {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-grpc');
    return new OTLPMetricExporter({ temporalityPreference: AggregationTemporality.CUMULATIVE });
  }, stats);
}

/** Unreachable or timed out: worth another try (gRPC UNAVAILABLE 14, DEADLINE_EXCEEDED 4, socket errors). */
function isTransient(error: unknown): boolean {
  if (error === undefined) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return code === 14 || code === 4;
  return /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|timed? ?out/i.test(describe(error));
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return error === undefined ? 'export failed' : String(error);
}
