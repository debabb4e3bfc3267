// The audit client: record(action, …) → POST /api/v1/activity/batch on the audit API, buffered per tenant,
// batched, retried with backoff, idempotent through client-made UUIDv7 ids. It never throws into the app,
// never blocks it and never keeps its process alive.
import { auditSettings } from '../config.js';
import { agentState } from '../state.js';
import { warn, warnThrottled } from '../warn.js';
import { Batcher, type TokenSource } from './batcher.js';
import { MAX_BATCH, uuidv7 } from './contract.js';
import { buildEvent, describeAction, type AuditRecordOptions } from './record.js';
import { AuditCounts, type AuditStats } from './stats.js';
import { batchEndpoint, createTransport } from './transport.js';

export interface AuditClientOptions {
  /** Base URL of the audit API; default LOOKOUT_AUDIT_URL. Without one, events are dropped and counted. */
  url?: string;
  /**
   * Bearer token (a JWT whose `tenant_id` claim is the tenant), or a function giving the token for a
   * tenant; default LOOKOUT_AUDIT_TOKEN. The audit API takes the tenant from the token only.
   */
  token?: TokenSource;
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

export interface AuditClient {
  /** Queues one event and returns its id. Never throws, never waits. */
  record(action: string, options: AuditRecordOptions): string;
  /** Sends what is buffered now; resolves when it is delivered or dropped, or after `timeoutMs` (default 5000). Never rejects. */
  flush(timeoutMs?: number): Promise<void>;
  /** Flushes (within `timeoutMs`), stops the timer, and counts what is left as dropped (`shutdown`). Never rejects. */
  shutdown(timeoutMs?: number): Promise<void>;
  readonly stats: AuditStats;
}

const DEFAULT_FLUSH_TIMEOUT_MS = 5000;

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
  /** tenant_id of a static token, to refuse events for another tenant rather than file them under this one. */
  private readonly tokenTenant: string | undefined;
  private readonly notConfigured: string | undefined;
  private readonly maxBuffered: number;
  /** Absent when the client is not configured: it then sends nothing. */
  private readonly batcher: Batcher | undefined;
  private readonly counts = new AuditCounts();
  private closing: Promise<void> | undefined;
  private readonly flushForAgent = (timeoutMs: number) => this.flush(timeoutMs);

  constructor(options: AuditClientOptions) {
    const opts = (typeof options === 'object' && options !== null ? options : {}) as AuditClientOptions;
    const batchSize = positive('batchSize', opts.batchSize, 100, MAX_BATCH);
    const flushIntervalMs = positive('flushIntervalMs', opts.flushIntervalMs, 1000);
    this.maxBuffered = positive('maxBufferedEvents', opts.maxBufferedEvents, 10_000);
    const requestTimeoutMs = positive('requestTimeoutMs', opts.requestTimeoutMs, 5000);
    const maxRetryDelayMs = positive('maxRetryDelayMs', opts.maxRetryDelayMs, 30_000);

    const fromEnv = auditSettings();
    const url = nonEmpty(opts.url) ?? fromEnv.url;
    const endpoint = url === undefined ? undefined : batchEndpoint(url);
    const token = typeof opts.token === 'function' ? opts.token : (nonEmpty(opts.token) ?? fromEnv.token);
    this.tokenTenant = typeof token === 'string' ? tenantClaim(token) : undefined;
    if (url === undefined) this.notConfigured = 'LOOKOUT_AUDIT_URL is not set';
    else if (endpoint === undefined) this.notConfigured = `LOOKOUT_AUDIT_URL="${url}" is not an http(s) URL such as http://audit-api:8080`;
    else if (token === undefined) this.notConfigured = 'no token: set LOOKOUT_AUDIT_TOKEN or pass `token`';
    else {
      const transport = createTransport({ endpoint, timeoutMs: requestTimeoutMs });
      this.batcher = new Batcher({ name: this.name, transport, token, counts: this.counts, batchSize, flushIntervalMs, requestTimeoutMs, maxRetryDelayMs });
      agentState().flushers.add(this.flushForAgent);
    }
  }

  get stats(): AuditStats {
    const { recorded, delivered, dropped } = this.counts;
    return { recorded, delivered, dropped: { ...dropped }, buffered: this.batcher?.buffered ?? 0 };
  }

  record(action: string, options: AuditRecordOptions): string {
    let id = '';
    try {
      id = uuidv7();
      this.counts.recorded++;
      if (this.closing) {
        this.counts.drop('shutdown', 1);
        warnThrottled(`${this.name}:closed`, `audit event ${describeAction(action)} dropped: the audit client was shut down`);
        return id;
      }
      if (this.batcher === undefined) {
        this.counts.drop('not_configured', 1);
        warnThrottled(`${this.name}:not_configured`, `audit events are dropped (counted in lookout.agent.audit.dropped): ${this.notConfigured}`, Infinity);
        return id;
      }
      const built = buildEvent(id, action, options, this.tokenTenant);
      if (typeof built === 'string') {
        this.counts.drop('invalid', 1);
        warnThrottled(`${this.name}:invalid`, `audit event ${describeAction(action)} dropped: ${built}`);
        return id;
      }
      if (this.batcher.buffered >= this.maxBuffered) {
        this.counts.drop('buffer_full', 1);
        warnThrottled(
          `${this.name}:buffer_full`,
          `audit event buffer full (${this.maxBuffered} events waiting for the audit API): new events are dropped and counted in lookout.agent.audit.dropped`,
        );
        return id;
      }
      this.batcher.add(built.tenant, { id, action, json: built.json });
    } catch (err) {
      // Unreachable by design; if it happens anyway, the app must not pay for it.
      try {
        this.counts.drop('invalid', 1);
        warnThrottled(`${this.name}:bug`, `audit event dropped: ${(err as Error)?.stack ?? String(err)}`);
      } catch {
        // nothing more to do
      }
    }
    return id;
  }

  async flush(timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS): Promise<void> {
    await this.batcher?.flush(Date.now() + (Number.isFinite(timeoutMs) && timeoutMs >= 0 ? timeoutMs : DEFAULT_FLUSH_TIMEOUT_MS));
  }

  shutdown(timeoutMs = DEFAULT_FLUSH_TIMEOUT_MS): Promise<void> {
    this.closing ??= (async () => {
      await this.flush(timeoutMs);
      agentState().flushers.delete(this.flushForAgent);
      this.batcher?.stop();
    })().catch(() => undefined);
    return this.closing;
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
