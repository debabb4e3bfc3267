// Per-tenant queues of recorded events and when they go: full batches at once, partial ones after the
// interval or at flush(), one request in flight at a time, round robin across tenants, retries with backoff
// that keep the same ids, and what each answer of the audit API means for the events it was about.
import { AsyncResource } from 'node:async_hooks';
import { warn, warnThrottled } from '../warn.js';
import type { AuditCounts } from './stats.js';
import type { Transport } from './transport.js';

// Well under the audit API's batch body limit (MAX_BATCH_BODY_BYTES), and small enough to be one quick request.
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const FIRST_RETRY_DELAY_MS = 500;

// Timers and sends run in the context this module was loaded in, not in the request that happened to
// record an event: a timer set inside a handler would otherwise keep that request's span and request id
// alive, and the send would run as part of its trace.
const detached = new AsyncResource('LookoutAuditClient');

export type TokenSource = string | ((tenant: string | undefined) => string | Promise<string>);

export interface BatcherOptions {
  /** The client's name in warnings, so that each client warns for itself. */
  name: string;
  transport: Transport;
  token: TokenSource;
  counts: AuditCounts;
  batchSize: number;
  flushIntervalMs: number;
  /** Also the longest wait for a token function's answer. */
  requestTimeoutMs: number;
  maxRetryDelayMs: number;
}

/** A recorded event as queued. */
export interface QueuedEvent {
  id: string;
  action: string;
  /** The event as JSON, made at record(): a later change to the caller's metadata object cannot alter it. */
  json: string;
}

interface Pending extends QueuedEvent {
  seq: number;
  enqueuedAt: number;
}

interface TenantQueue {
  tenant: string | undefined;
  events: Pending[];
  /** Failed attempts in a row; 0 when the last one succeeded. */
  attempt: number;
  retryAt: number;
  /** The server set the delay (Retry-After): flush() waits for it rather than retrying early. */
  serverDelay: boolean;
  /** Part of a failed batch must go again at once (one bad event removed, or the body split). */
  resend: boolean;
  /** Events per request after a 413 without an event index: halved until the body passes. */
  limit: number;
}

export class Batcher {
  private readonly queues = new Map<string | undefined, TenantQueue>();
  private bufferedCount = 0;
  private seq = 0;
  /** Events up to this sequence number go out now, partial batches included (flush()). */
  private flushSeq = 0;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** After stop(): what was left is given up on, and nothing more is sent. */
  private stopped = false;

  constructor(private readonly options: BatcherOptions) {}

  /** Events waiting, including those of the request in flight. */
  get buffered(): number {
    return this.bufferedCount;
  }

  add(tenant: string | undefined, event: QueuedEvent): void {
    const pending: Pending = { ...event, seq: ++this.seq, enqueuedAt: Date.now() };
    let queue = this.queues.get(tenant);
    if (!queue) {
      queue = { tenant, events: [], attempt: 0, retryAt: 0, serverDelay: false, resend: false, limit: this.options.batchSize };
      this.queues.set(tenant, queue);
    }
    queue.events.push(pending);
    this.bufferedCount++;
    if (queue.events.length >= Math.min(this.options.batchSize, queue.limit) && queue.retryAt <= pending.enqueuedAt) this.kick();
    else if (this.timerAt > pending.enqueuedAt + this.options.flushIntervalMs) this.arm(); // else a timer is due sooner already
  }

  /** Sends what is buffered now; resolves when it is delivered or dropped, or at `deadline` (epoch ms). Never rejects. */
  async flush(deadline: number): Promise<void> {
    try {
      const target = this.seq;
      this.flushSeq = Math.max(this.flushSeq, target);
      // Our own backoff gives way to an explicit flush (one more attempt now); a server's Retry-After does not.
      const now = Date.now();
      for (const queue of this.queues.values()) if (!queue.serverDelay) queue.retryAt = Math.min(queue.retryAt, now);
      while (this.pendingUpTo(target) && Date.now() < deadline) {
        this.kick();
        if (this.sending) {
          await untilEither(this.sending, deadline);
          continue;
        }
        // Nothing can go now: every tenant still holding such events waits out a retry delay.
        const wakeAt = this.nextRetryAt(target);
        if (wakeAt >= deadline) return;
        await untilEither(undefined, wakeAt);
      }
    } catch (err) {
      warnThrottled(`${this.options.name}:bug`, `audit flush failed: ${(err as Error)?.stack ?? String(err)}`);
    }
  }

  /** Stops the timer and gives up on what is left, a request still in flight included: its answer is ignored. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.bufferedCount > 0) {
      warn(`audit client shut down with ${this.bufferedCount} events undelivered (counted in lookout.agent.audit.dropped, reason shutdown)`);
      this.options.counts.drop('shutdown', this.bufferedCount);
      this.bufferedCount = 0;
      this.queues.clear();
    }
  }

  /** Starts the send loop unless it runs already. One request is in flight at a time. */
  private kick(): void {
    if (this.sending || this.stopped) return;
    const run = detached.runInAsyncScope(() => this.drain()).catch(() => undefined);
    this.sending = run;
    void run.then(() => {
      this.sending = undefined;
      if (this.next(Date.now())) this.kick();
      else this.arm();
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const queue = this.next(Date.now());
      if (!queue) return;
      try {
        await this.send(queue);
      } catch (err) {
        this.retryLater(queue, `audit send failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
      }
      // Round robin: a tenant with much to send does not starve the others.
      if (this.queues.get(queue.tenant) === queue) {
        this.queues.delete(queue.tenant);
        if (queue.events.length > 0) this.queues.set(queue.tenant, queue);
      }
    }
  }

  /** A tenant whose head event should go now: a full batch, a due partial one, a flush, or a retry. */
  private next(now: number): TenantQueue | undefined {
    for (const queue of this.queues.values()) {
      const head = queue.events[0];
      if (!head || queue.retryAt > now) continue;
      if (
        queue.attempt > 0 ||
        queue.resend ||
        head.seq <= this.flushSeq ||
        head.enqueuedAt + this.options.flushIntervalMs <= now ||
        queue.events.length >= Math.min(this.options.batchSize, queue.limit)
      ) {
        return queue;
      }
    }
    return undefined;
  }

  /** An unref'd timer for the earliest moment something becomes due: the client never keeps a process alive. */
  private arm(): void {
    if (this.sending || this.stopped) return;
    let at = Infinity;
    for (const queue of this.queues.values()) {
      const head = queue.events[0];
      if (!head) continue;
      at = Math.min(at, queue.attempt > 0 || queue.resend ? queue.retryAt : Math.max(queue.retryAt, head.enqueuedAt + this.options.flushIntervalMs));
    }
    if (at === Infinity || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = detached.runInAsyncScope(() =>
      setTimeout(() => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.kick();
        if (!this.sending) this.arm();
      }, Math.max(0, at - Date.now())),
    );
    this.timer.unref();
  }

  private async send(queue: TenantQueue): Promise<void> {
    const { name, transport, counts } = this.options;
    const batch = takeBatch(queue.events, Math.min(this.options.batchSize, queue.limit));
    queue.resend = false;
    let token: string;
    try {
      const source = this.options.token;
      token = typeof source === 'function' ? await answerWithin(source(queue.tenant), this.options.requestTimeoutMs) : source;
      if (typeof token !== 'string' || token.length === 0) throw new Error(`the token function returned ${typeof token === 'string' ? 'an empty string' : typeof token}`);
    } catch (err) {
      return this.retryLater(queue, `no audit API token for tenant ${describeTenant(queue.tenant)} (${(err as Error)?.message ?? String(err)})`);
    }

    const answer = await transport.send(token, batch.map((e) => e.json));
    if (!answer.answered) return this.retryLater(queue, `cannot reach the audit API at ${transport.endpoint} (${answer.reason})`);

    if (this.stopped || queue.events[0] !== batch[0]) return; // shut down meanwhile: already counted
    const { status, error, said } = answer;
    if (status >= 200 && status < 300) {
      this.remove(queue, batch.length);
      counts.deliver(batch.length);
      queue.attempt = 0;
      queue.retryAt = 0;
      queue.serverDelay = false;
      return;
    }
    if (status === 408 || status === 429 || status >= 500) {
      return this.retryLater(queue, `the audit API answered ${said}`, answer.retryAfterMs);
    }
    queue.attempt = 0;
    queue.retryAt = 0;
    queue.serverDelay = false;
    if (status === 400 || status === 413 || status === 422) {
      // A batch is all or nothing; the field names the bad event (events[3].metadata.reason): drop just it.
      const index = /^events\[(\d+)\]/.exec(error.field ?? '');
      const bad = index ? Number(index[1]) : -1;
      if (bad >= 0 && bad < batch.length) {
        const [event] = queue.events.splice(bad, 1);
        this.bufferedCount--;
        counts.drop('invalid', 1);
        queue.resend = queue.events.length > 0;
        warnThrottled(`${name}:invalid:${error.code}`, `the audit API refused audit event ${event!.id} (${event!.action}): ${said}; it is dropped, the rest of its batch is resent`);
        return;
      }
      if (status === 413 && batch.length > 1) {
        queue.limit = Math.ceil(batch.length / 2); // a proxy with a smaller body limit than the audit API's
        queue.resend = true;
        return;
      }
      this.remove(queue, batch.length);
      counts.drop('invalid', batch.length);
      warnThrottled(`${name}:invalid:${error.code}`, `the audit API refused a batch of ${batch.length} audit events: ${said}; they are dropped (retrying cannot help)`);
      return;
    }
    this.remove(queue, batch.length);
    counts.drop('rejected', batch.length);
    const hint =
      status === 401 || status === 403
        ? `check the token for tenant ${describeTenant(queue.tenant)} (LOOKOUT_AUDIT_TOKEN or the token function): it needs the activity:write scope`
        : status >= 300 && status < 400
          ? `it redirects${answer.location ? ` to ${answer.location}` : ''}: set LOOKOUT_AUDIT_URL to the audit API itself`
          : `check LOOKOUT_AUDIT_URL (${transport.endpoint})`;
    warnThrottled(`${name}:rejected:${status}`, `the audit API refused ${batch.length} audit events with ${said}; they are dropped: ${hint}`);
  }

  /** A transient failure: the same events (same ids) stay at the head and go again after a backoff. */
  private retryLater(queue: TenantQueue, message: string, retryAfterMs?: number): void {
    if (this.stopped) return; // shut down meanwhile: what was left is counted already
    const { maxRetryDelayMs } = this.options;
    queue.attempt++;
    const exponential = Math.min(maxRetryDelayMs, FIRST_RETRY_DELAY_MS * 2 ** Math.min(queue.attempt - 1, 20));
    const jittered = exponential / 2 + (Math.random() * exponential) / 2;
    const delay = Math.min(maxRetryDelayMs, Math.max(jittered, retryAfterMs ?? 0));
    queue.retryAt = Date.now() + delay;
    queue.serverDelay = retryAfterMs !== undefined;
    warnThrottled(`${this.options.name}:transient`, `${message}; ${this.bufferedCount} audit events kept, retrying in ${Math.round(delay)} ms`);
  }

  private remove(queue: TenantQueue, count: number): void {
    queue.events.splice(0, count);
    this.bufferedCount -= count;
  }

  private pendingUpTo(seq: number): boolean {
    for (const queue of this.queues.values()) if ((queue.events[0]?.seq ?? Infinity) <= seq) return true;
    return false;
  }

  private nextRetryAt(seq: number): number {
    let at = Infinity;
    for (const queue of this.queues.values()) if ((queue.events[0]?.seq ?? Infinity) <= seq) at = Math.min(at, queue.retryAt);
    return at;
  }
}

/** Up to `max` events from the head whose JSON fits in one request body (always at least one). */
function takeBatch(events: Pending[], max: number): Pending[] {
  let bytes = 16;
  let n = 0;
  while (n < events.length && n < max) {
    bytes += Buffer.byteLength(events[n]!.json) + 1;
    if (n > 0 && bytes > MAX_REQUEST_BYTES) break;
    n++;
  }
  return events.slice(0, n);
}

/** Resolves when `work` settles or at `at` (epoch ms), whichever comes first. */
function untilEither(work: Promise<void> | undefined, at: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, at - Date.now()))));
  return Promise.race(work ? [work, timeout] : [timeout]).finally(() => clearTimeout(timer));
}

/** A token function that never answers must not stall every tenant's deliveries. */
function answerWithin<T>(value: T | Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  return Promise.race([Promise.resolve(value), timeout]).finally(() => clearTimeout(timer));
}

function describeTenant(tenant: string | undefined): string {
  return tenant === undefined ? '(none)' : JSON.stringify(tenant);
}
