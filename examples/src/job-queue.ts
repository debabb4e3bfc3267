// The worker's queue: jobs in memory, each carrying the trace context and request id of the request that
// queued it, processed a few at a time. Processing continues the producer's trace: the consumer span is a
// child of the enqueue request, as the OpenTelemetry messaging conventions allow for single messages.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { withRequestId } from '@lookout/agent';

export interface Job<T> {
  id: string;
  payload: T;
  enqueuedAt: number;
  /** W3C traceparent/tracestate/baggage of the producer. */
  carrier: Record<string, string>;
  requestId: string | undefined;
}

const tracer = trace.getTracer('lookout.examples.worker');

export class JobQueue<T> {
  private readonly jobs: Job<T>[] = [];
  private running = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly name: string,
    private readonly concurrency: number,
    private readonly maxQueued: number,
    private readonly handle: (job: Job<T>) => Promise<void>,
  ) {}

  get depth(): number {
    return this.jobs.length;
  }

  /** Queues a job in the current context; false when the queue is full or closed. */
  push(id: string, payload: T, requestId: string | undefined): boolean {
    if (this.closed || this.jobs.length >= this.maxQueued) return false;
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    this.jobs.push({ id, payload, enqueuedAt: Date.now(), carrier, requestId });
    // Processing starts outside the producer's context: its spans parent on the carrier, not on whatever
    // request happens to be active.
    context.with(ROOT_CONTEXT, () => this.pump());
    return true;
  }

  /**
   * Stops taking jobs and resolves when the queued and running ones are done, or after `timeoutMs` with
   * the number of jobs not finished (queued ones are then dropped).
   */
  async drain(timeoutMs: number): Promise<number> {
    this.closed = true;
    if (this.running === 0 && this.jobs.length === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([idle, timedOut]);
    clearTimeout(timer);
    const left = this.jobs.length + this.running;
    this.jobs.length = 0;
    return left;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.jobs.length > 0) {
      const job = this.jobs.shift()!;
      this.running++;
      void this.process(job).finally(() => {
        this.running--;
        if (this.jobs.length > 0) this.pump();
        else if (this.running === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
    }
  }

  private process(job: Job<T>): Promise<void> {
    const parent = propagation.extract(ROOT_CONTEXT, job.carrier);
    const run = () =>
      tracer.startActiveSpan(
        `process ${this.name}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.operation.type': 'process',
            'messaging.operation.name': 'process',
            'messaging.destination.name': this.name,
            'messaging.message.id': job.id,
          },
        },
        parent,
        async (span) => {
          try {
            await this.handle(job);
          } catch (err) {
            // The handler logs and reports its own failures; this only keeps the queue going.
            span.recordException(err as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          } finally {
            span.end();
          }
        },
      );
    return job.requestId ? withRequestId(job.requestId, run) : run();
  }
}
