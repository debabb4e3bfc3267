// The audit client: record(action, …) → POST /api/v1/activity/batch on the audit API, buffered per tenant,
// batched, retried with backoff, idempotent through client-made UUIDv7 ids. It never throws into the app,
// never blocks it and never keeps its process alive.
import { AsyncResource } from 'node:async_hooks';
import { randomFillSync, randomInt } from 'node:crypto';
import { context, metrics, ROOT_CONTEXT, trace, type Counter } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { auditSettings } from './config.js';
import { currentRequestId } from './request-id.js';
import { agentState } from './state.js';
import { warn, warnThrottled } from './warn.js';

export type ActorType = 'user' | 'service' | 'system' | 'api_key';

export interface AuditRecordOptions {
  actor: { type: ActorType; id: string; display?: string };
  object?: { type: string; id: string };
  metadata?: Record<string, unknown>;
  status?: 'success' | 'failure';
  /** Default: now. */
  occurredAt?: Date;
  /** The tenant the event belongs to; chooses the token (`token(tenant)`). */
  tenant?: string;
}

export interface AuditClientOptions {
  /** Base URL of the audit API; default LOOKOUT_AUDIT_URL. Without one, events are dropped and counted. */
  url?: string;
  /**
   * Bearer token (a JWT whose `tenant_id` claim is the tenant), or a function giving the token for a
   * tenant; default LOOKOUT_AUDIT_TOKEN. The audit API takes the tenant from the token only.
   */
  token?: string | ((tenant: string | undefined) => string | Promise<string>);
  /** Events per request, 1–1000; default 100. */
  batchSize?: number;
  /** Longest an event waits for its batch to fill; default 1000 ms. */
  flushIntervalMs?: number;
  /** Events kept (all tenants) while the audit API is slow or down; beyond it new events are dropped. Default 10000. */
  maxBufferedEvents?: number;
  /** One request, response body included; default 5000 ms. */
  requestTimeoutMs?: number;
  /** Cap on the backoff between retries (and on a Retry-After); default 30000 ms. */
  maxRetryDelayMs?: number;
}

export interface AuditStats {
  /** Every record() call, accepted or not: recorded = delivered + Σ dropped + buffered. */
  recorded: number;
  /** Events the audit API confirmed (201). */
  delivered: number;
  /** By reason: not_configured, invalid, buffer_full, rejected, shutdown. */
  dropped: Record<string, number>;
  /** Events waiting, including those of the request in flight. */
  buffered: number;
}

export interface AuditClient {
  /** Queues one event and returns its id. Never throws, never waits. */
  record(action: string, options: AuditRecordOptions): string;
  /** Sends what is buffered now; resolves when it is delivered or dropped, or after `timeoutMs` (default 5000). Never rejects. */
  flush(timeoutMs?: number): Promise<void>;
  /** Flushes (within `timeoutMs`), stops the timer, and counts what is left as dropped (`shutdown`). Never rejects. */
  shutdown(timeoutMs?: number): Promise<void>;
  readonly stats: AuditStats;
}

export type AuditDropReason = 'not_configured' | 'invalid' | 'buffer_full' | 'rejected' | 'shutdown';

const BATCH_PATH = '/api/v1/activity/batch';
const MAX_BATCH = 1000; // the audit API's limit per request
// Well under the audit API's 12 MiB batch body limit, and small enough to be one quick request.
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const FIRST_RETRY_DELAY_MS = 500;
const DEFAULT_FLUSH_TIMEOUT_MS = 5000;
const ACTOR_TYPES: ReadonlySet<string> = new Set(['user', 'service', 'system', 'api_key']);
const USER_AGENT = '@lookout/agent audit client';

// Timers and sends run in the context this module was loaded in, not in the request that happened to
// record an event: a timer set inside a handler would otherwise keep that request's span and request id
// alive, and the send would run as part of its trace.
const detached = new AsyncResource('LookoutAuditClient');

interface Pending {
  id: string;
  action: string;
  /** The event as JSON, made at record(): a later change to the caller's metadata object cannot alter it. */
  json: string;
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

let clients = 0;

export function createAuditClient(options: AuditClientOptions = {}): AuditClient {
  return new HttpAuditClient(options);
}

let defaultClient: AuditClient | undefined;
function defaultAudit(): AuditClient {
  return (defaultClient ??= createAuditClient());
}

/** The process's audit client, made from LOOKOUT_AUDIT_URL and LOOKOUT_AUDIT_TOKEN on first use. */
export const audit: AuditClient = {
  record: (action, options) => defaultAudit().record(action, options),
  flush: (timeoutMs) => defaultAudit().flush(timeoutMs),
  shutdown: (timeoutMs) => defaultAudit().shutdown(timeoutMs),
  get stats() {
    return defaultAudit().stats;
  },
};

class HttpAuditClient implements AuditClient {
  private readonly name = `audit#${++clients}`;
  private readonly endpoint: string | undefined;
  private readonly token: AuditClientOptions['token'];
  /** tenant_id of a static token, to refuse events for another tenant rather than file them under this one. */
  private readonly tokenTenant: string | undefined;
  private readonly notConfigured: string | undefined;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly requestTimeoutMs: number;
  private readonly maxRetryDelayMs: number;

  private readonly queues = new Map<string | undefined, TenantQueue>();
  private buffered = 0;
  private seq = 0;
  /** Events up to this sequence number go out now, partial batches included (flush()). */
  private flushSeq = 0;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closing: Promise<void> | undefined;
  private counts = { recorded: 0, delivered: 0, dropped: {} as Record<string, number> };
  private counters: { dropped: Counter; delivered: Counter } | undefined;
  private readonly flushForAgent = (timeoutMs: number) => this.flush(timeoutMs);

  constructor(options: AuditClientOptions) {
    const opts = (typeof options === 'object' && options !== null ? options : {}) as AuditClientOptions;
    this.batchSize = positive('batchSize', opts.batchSize, 100, MAX_BATCH);
    this.flushIntervalMs = positive('flushIntervalMs', opts.flushIntervalMs, 1000);
    this.maxBuffered = positive('maxBufferedEvents', opts.maxBufferedEvents, 10_000);
    this.requestTimeoutMs = positive('requestTimeoutMs', opts.requestTimeoutMs, 5000);
    this.maxRetryDelayMs = positive('maxRetryDelayMs', opts.maxRetryDelayMs, 30_000);

    const fromEnv = auditSettings();
    const url = nonEmpty(opts.url) ?? fromEnv.url;
    this.endpoint = url === undefined ? undefined : batchEndpoint(url);
    this.token = typeof opts.token === 'function' ? opts.token : (nonEmpty(opts.token) ?? fromEnv.token);
    this.tokenTenant = typeof this.token === 'string' ? tenantClaim(this.token) : undefined;
    if (url === undefined) this.notConfigured = 'LOOKOUT_AUDIT_URL is not set';
    else if (this.endpoint === undefined) this.notConfigured = `LOOKOUT_AUDIT_URL="${url}" is not an http(s) URL such as http://audit-api:8080`;
    else if (this.token === undefined) this.notConfigured = 'no token: set LOOKOUT_AUDIT_TOKEN or pass `token`';
    if (this.notConfigured === undefined) agentState().flushers.add(this.flushForAgent);
  }

  get stats(): AuditStats {
    return { recorded: this.counts.recorded, delivered: this.counts.delivered, dropped: { ...this.counts.dropped }, buffered: this.buffered };
  }

  record(action: string, options: AuditRecordOptions): string {
    let id = '';
    try {
      id = uuidv7();
      this.counts.recorded++;
      if (this.closing) {
        this.drop('shutdown', 1);
        warnThrottled(`${this.name}:closed`, `audit event ${describeAction(action)} dropped: the audit client was shut down`);
        return id;
      }
      if (this.notConfigured !== undefined) {
        this.drop('not_configured', 1);
        warnThrottled(`${this.name}:not_configured`, `audit events are dropped (counted in lookout.agent.audit.dropped): ${this.notConfigured}`, Infinity);
        return id;
      }
      let built: ReturnType<HttpAuditClient['build']>;
      try {
        built = this.build(id, action, options);
      } catch (err) {
        built = `its options could not be read (${(err as Error)?.message ?? String(err)})`; // a throwing getter or Proxy
      }
      if (typeof built === 'string') {
        this.drop('invalid', 1);
        warnThrottled(`${this.name}:invalid`, `audit event ${describeAction(action)} dropped: ${built}`);
        return id;
      }
      if (this.buffered >= this.maxBuffered) {
        this.drop('buffer_full', 1);
        warnThrottled(
          `${this.name}:buffer_full`,
          `audit event buffer full (${this.maxBuffered} events waiting for the audit API): new events are dropped and counted in lookout.agent.audit.dropped`,
        );
        return id;
      }
      this.enqueue(built.tenant, { id, action, json: built.json, seq: ++this.seq, enqueuedAt: Date.now() });
    } catch (err) {
      // Unreachable by design; if it happens anyway, the app must not pay for it.
      try {
        this.drop('invalid', 1);
        warnThrottled(`${this.name}:bug`, `audit event dropped: ${(err as Error)?.stack ?? String(err)}`);
      } catch {
        // nothing more to do
      }
    }
    return id;
  }

  async flush(timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS): Promise<void> {
    try {
      const deadline = Date.now() + (Number.isFinite(timeoutMs) && timeoutMs >= 0 ? timeoutMs : DEFAULT_FLUSH_TIMEOUT_MS);
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
      warnThrottled(`${this.name}:bug`, `audit flush failed: ${(err as Error)?.stack ?? String(err)}`);
    }
  }

  shutdown(timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS): Promise<void> {
    this.closing ??= (async () => {
      await this.flush(timeoutMs);
      agentState().flushers.delete(this.flushForAgent);
      clearTimeout(this.timer);
      this.timer = undefined;
      // Whatever is left is given up on, including a request still in flight: its answer is ignored.
      if (this.buffered > 0) {
        warn(`audit client shut down with ${this.buffered} events undelivered (counted in lookout.agent.audit.dropped, reason shutdown)`);
        this.drop('shutdown', this.buffered);
        this.buffered = 0;
        this.queues.clear();
      }
    })().catch(() => undefined);
    return this.closing;
  }

  /** The event as JSON, or why it cannot be sent. */
  private build(id: string, action: unknown, options: unknown): { tenant: string | undefined; json: string } | string {
    if (typeof action !== 'string' || action.length === 0) return 'action must be a non-empty string such as "auth.login.success"';
    if (typeof options !== 'object' || options === null) return 'options must be an object with at least `actor`';
    const { actor, object, metadata, status, occurredAt, tenant } = options as Record<string, unknown>;
    if (typeof actor !== 'object' || actor === null) return 'actor must be an object { type, id }';
    const { type: actorType, id: actorId, display } = actor as Record<string, unknown>;
    if (typeof actorType !== 'string' || !ACTOR_TYPES.has(actorType)) return `actor.type must be one of ${[...ACTOR_TYPES].join(', ')}`;
    if (typeof actorId !== 'string' || actorId.length === 0) return 'actor.id must be a non-empty string';
    if (display !== undefined && typeof display !== 'string') return 'actor.display must be a string';
    let objectField: { type: string; id: string } | undefined;
    if (object !== undefined) {
      const { type, id: objectId } = (typeof object === 'object' && object !== null ? object : {}) as Record<string, unknown>;
      if (typeof type !== 'string' || !type || typeof objectId !== 'string' || !objectId) return 'object must be { type, id } with non-empty strings';
      objectField = { type, id: objectId };
    }
    if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) return 'metadata must be an object';
    if (status !== undefined && status !== 'success' && status !== 'failure') return 'status must be "success" or "failure"';
    if (occurredAt !== undefined && !(occurredAt instanceof Date && Number.isFinite(occurredAt.getTime()))) return 'occurredAt must be a valid Date';
    if (tenant !== undefined && (typeof tenant !== 'string' || tenant.length === 0)) return 'tenant must be a non-empty string';
    if (tenant !== undefined && this.tokenTenant !== undefined && tenant !== this.tokenTenant) {
      return `tenant "${tenant}" is not the token's tenant_id "${this.tokenTenant}": the audit API files events under the token's tenant, so give \`token\` as a function of the tenant`;
    }

    const spanContext = trace.getSpanContext(context.active());
    const traced = spanContext !== undefined && trace.isSpanContextValid(spanContext);
    const requestId = currentRequestId();
    const event = {
      id,
      action,
      status: status ?? 'success',
      occurred_at: ((occurredAt as Date | undefined) ?? new Date()).toISOString(),
      actor: { type: actorType, id: actorId, ...(display !== undefined ? { display } : {}) },
      ...(objectField ? { object: objectField } : {}),
      ...(requestId !== undefined ? { request_id: requestId } : {}),
      ...(traced ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {}),
      metadata: metadata ?? {},
    };
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch (err) {
      return `metadata cannot be serialized as JSON (${(err as Error).message})`;
    }
    return { tenant: tenant as string | undefined, json };
  }

  private enqueue(tenant: string | undefined, event: Pending): void {
    let queue = this.queues.get(tenant);
    if (!queue) {
      queue = { tenant, events: [], attempt: 0, retryAt: 0, serverDelay: false, resend: false, limit: this.batchSize };
      this.queues.set(tenant, queue);
    }
    queue.events.push(event);
    this.buffered++;
    if (queue.events.length >= Math.min(this.batchSize, queue.limit) && queue.retryAt <= event.enqueuedAt) this.kick();
    else if (this.timerAt > event.enqueuedAt + this.flushIntervalMs) this.arm(); // else a timer is due sooner already
  }

  /** Starts the send loop unless it runs already. One request is in flight at a time. */
  private kick(): void {
    if (this.sending || this.closed()) return;
    const run = detached.runInAsyncScope(() => this.drain()).catch(() => undefined);
    this.sending = run;
    void run.then(() => {
      this.sending = undefined;
      if (this.next(Date.now())) this.kick();
      else this.arm();
    });
  }

  private closed(): boolean {
    // After shutdown() has given up on what was left, nothing more is sent.
    return this.closing !== undefined && this.queues.size === 0;
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
        head.enqueuedAt + this.flushIntervalMs <= now ||
        queue.events.length >= Math.min(this.batchSize, queue.limit)
      ) {
        return queue;
      }
    }
    return undefined;
  }

  /** An unref'd timer for the earliest moment something becomes due: the client never keeps a process alive. */
  private arm(): void {
    if (this.sending || this.closed()) return;
    let at = Infinity;
    for (const queue of this.queues.values()) {
      const head = queue.events[0];
      if (!head) continue;
      at = Math.min(at, queue.attempt > 0 || queue.resend ? queue.retryAt : Math.max(queue.retryAt, head.enqueuedAt + this.flushIntervalMs));
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
    const batch = takeBatch(queue.events, Math.min(this.batchSize, queue.limit));
    queue.resend = false;
    let token: string;
    try {
      token = typeof this.token === 'function' ? await answerWithin(this.token(queue.tenant), this.requestTimeoutMs) : this.token!;
      if (typeof token !== 'string' || token.length === 0) throw new Error(`the token function returned ${typeof token === 'string' ? 'an empty string' : typeof token}`);
    } catch (err) {
      return this.retryLater(queue, `no audit API token for tenant ${describeTenant(queue.tenant)} (${(err as Error)?.message ?? String(err)})`);
    }

    let status: number;
    let text: string;
    let retryAfter: string | null;
    let location: string | null;
    try {
      // Tracing suppressed, from the root context: the audit request is no span of the caller's trace, and
      // the http/undici instrumentations do not trace (or propagate) the agent's own traffic.
      ({ status, text, retryAfter, location } = await context.with(suppressTracing(ROOT_CONTEXT), async () => {
        const response = await fetch(this.endpoint!, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'user-agent': USER_AGENT },
          body: `{"events":[${batch.map((e) => e.json).join(',')}]}`,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.requestTimeoutMs),
        });
        return {
          status: response.status,
          text: await response.text(),
          retryAfter: response.headers.get('retry-after'),
          location: response.headers.get('location'),
        };
      }));
    } catch (err) {
      return this.retryLater(queue, `cannot reach the audit API at ${this.endpoint} (${describeFetchError(err, this.requestTimeoutMs)})`);
    }

    if (this.closed() || queue.events[0] !== batch[0]) return; // shut down meanwhile: already counted
    if (status >= 200 && status < 300) {
      this.remove(queue, batch.length);
      this.counts.delivered += batch.length;
      this.metricCounters().delivered.add(batch.length);
      queue.attempt = 0;
      queue.retryAt = 0;
      queue.serverDelay = false;
      return;
    }
    const error = parseError(text);
    const said = `${status}${error.code ? ` ${error.code}` : ''}${error.field ? ` at ${error.field}` : ''}${error.message ? `: ${error.message}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      return this.retryLater(queue, `the audit API answered ${said}`, parseRetryAfter(retryAfter));
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
        this.buffered--;
        this.drop('invalid', 1);
        queue.resend = queue.events.length > 0;
        warnThrottled(`${this.name}:invalid:${error.code}`, `the audit API refused audit event ${event!.id} (${event!.action}): ${said}; it is dropped, the rest of its batch is resent`);
        return;
      }
      if (status === 413 && batch.length > 1) {
        queue.limit = Math.ceil(batch.length / 2); // a proxy with a smaller body limit than the audit API's
        queue.resend = true;
        return;
      }
      this.remove(queue, batch.length);
      this.drop('invalid', batch.length);
      warnThrottled(`${this.name}:invalid:${error.code}`, `the audit API refused a batch of ${batch.length} audit events: ${said}; they are dropped (retrying cannot help)`);
      return;
    }
    this.remove(queue, batch.length);
    this.drop('rejected', batch.length);
    const hint =
      status === 401 || status === 403
        ? `check the token for tenant ${describeTenant(queue.tenant)} (LOOKOUT_AUDIT_TOKEN or the token function): it needs the activity:write scope`
        : status >= 300 && status < 400
          ? `it redirects${location ? ` to ${location}` : ''}: set LOOKOUT_AUDIT_URL to the audit API itself`
          : `check LOOKOUT_AUDIT_URL (${this.endpoint})`;
    warnThrottled(`${this.name}:rejected:${status}`, `the audit API refused ${batch.length} audit events with ${said}; they are dropped: ${hint}`);
  }

  /** A transient failure: the same events (same ids) stay at the head and go again after a backoff. */
  private retryLater(queue: TenantQueue, message: string, retryAfterMs?: number): void {
    if (this.closed()) return; // shut down meanwhile: what was left is counted already
    queue.attempt++;
    const exponential = Math.min(this.maxRetryDelayMs, FIRST_RETRY_DELAY_MS * 2 ** Math.min(queue.attempt - 1, 20));
    const jittered = exponential / 2 + (Math.random() * exponential) / 2;
    const delay = Math.min(this.maxRetryDelayMs, Math.max(jittered, retryAfterMs ?? 0));
    queue.retryAt = Date.now() + delay;
    queue.serverDelay = retryAfterMs !== undefined;
    warnThrottled(`${this.name}:transient`, `${message}; ${this.buffered} audit events kept, retrying in ${Math.round(delay)} ms`);
  }

  private remove(queue: TenantQueue, count: number): void {
    queue.events.splice(0, count);
    this.buffered -= count;
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

  private drop(reason: AuditDropReason, count: number): void {
    this.counts.dropped[reason] = (this.counts.dropped[reason] ?? 0) + count;
    this.metricCounters().dropped.add(count, { reason });
  }

  /** Made on first use, when the agent has registered its meter provider; no-ops without it. */
  private metricCounters(): { dropped: Counter; delivered: Counter } {
    if (this.counters) return this.counters;
    const meter = metrics.getMeter('@lookout/agent');
    this.counters = {
      dropped: meter.createCounter('lookout.agent.audit.dropped', {
        unit: '{event}',
        description: 'Audit events the agent gave up on, by reason (not_configured, invalid, buffer_full, rejected, shutdown)',
      }),
      delivered: meter.createCounter('lookout.agent.audit.delivered', { unit: '{event}', description: 'Audit events the audit API confirmed' }),
    };
    return this.counters;
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

// RFC 9562 UUIDv7: 48-bit Unix milliseconds, version 7, a 12-bit counter (method 1) so ids made by this
// process within one millisecond still sort in order, the variant, then 62 random bits.
const uuidBytes = Buffer.alloc(16);
let uuidMs = -1;
let uuidCounter = 0;
export function uuidv7(): string {
  const now = Date.now();
  if (now > uuidMs) {
    uuidMs = now;
    uuidCounter = randomInt(0, 0x800); // start in the lower half: room to count before borrowing a millisecond
  } else if (++uuidCounter > 0xfff) {
    uuidMs++; // 4096 ids in one millisecond, or the clock stepped back: borrow the next one, stay ordered
    uuidCounter = 0;
  }
  uuidBytes.writeUIntBE(uuidMs, 0, 6);
  uuidBytes.writeUInt16BE(0x7000 | uuidCounter, 6);
  randomFillSync(uuidBytes, 8, 8);
  uuidBytes[8] = 0x80 | (uuidBytes[8]! & 0x3f);
  const hex = uuidBytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function batchEndpoint(base: string): string | undefined {
  try {
    const url = new URL(base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}${BATCH_PATH}`;
  } catch {
    return undefined;
  }
}

/** The unverified tenant_id claim of a JWT (only to catch a static token used for several tenants). */
function tenantClaim(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { tenant_id?: unknown };
    return typeof payload.tenant_id === 'string' ? payload.tenant_id : undefined;
  } catch {
    return undefined;
  }
}

function parseError(text: string): { code?: string; message?: string; field?: string } {
  try {
    const error = (JSON.parse(text) as { error?: Record<string, unknown> }).error;
    if (typeof error !== 'object' || error === null) return {};
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { code: str(error.code), message: str(error.message), field: str(error.field) };
  } catch {
    return {};
  }
}

/** Retry-After in milliseconds: delta-seconds or an HTTP date. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

function describeAction(action: unknown): string {
  return typeof action === 'string' ? JSON.stringify(action.slice(0, 100)) : `(action ${typeof action})`;
}

function describeTenant(tenant: string | undefined): string {
  return tenant === undefined ? '(none)' : JSON.stringify(tenant);
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function positive(name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 1) {
    if (value <= max) return Math.floor(value);
    warn(`audit client option ${name}=${value} is above the audit API's limit; ${max} is used`);
    return max;
  }
  warn(`audit client option ${name}=${String(value)} is not a number >= 1; the default ${fallback} is used`);
  return fallback;
}
