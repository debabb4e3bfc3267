// One batch request to the audit API: POST the events, read the answer (status, error body, Retry-After),
// or say why no answer came. What to do with the answer is the batcher's decision.
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { BATCH_PATH } from './contract.js';

const USER_AGENT = '@lookout/agent audit client';

export interface TransportOptions {
  /** The batch endpoint's full URL (batchEndpoint()). */
  endpoint: string;
  /** One request, response body included. */
  timeoutMs: number;
  /** Default: globalThis.fetch, looked up at each request. */
  fetch?: typeof globalThis.fetch;
}

/** The `error` object of a 4xx/5xx body, as far as it could be read. */
export interface AnswerError {
  code?: string;
  message?: string;
  field?: string;
}

export type SendResult =
  /** No answer: the request failed or timed out; `reason` says how. */
  | { answered: false; reason: string }
  | {
      answered: true;
      status: number;
      /** Read from the body of a non-2xx answer only. */
      error: AnswerError;
      /** The answer in one line: `429 rate_limited at field: message`. */
      said: string;
      /** Retry-After in milliseconds, if the answer had one that could be read. */
      retryAfterMs: number | undefined;
      location: string | undefined;
    };

export interface Transport {
  readonly endpoint: string;
  /** Sends events (each already JSON) as one batch with this bearer token. Never rejects. */
  send(token: string, events: readonly string[]): Promise<SendResult>;
}

export function createTransport({ endpoint, timeoutMs, fetch = (input, init) => globalThis.fetch(input, init) }: TransportOptions): Transport {
  return {
    endpoint,
    async send(token, events) {
      let status: number;
      let text: string;
      let retryAfter: string | null;
      let location: string | null;
      try {
        // Tracing suppressed, from the root context: the audit request is no span of the caller's trace, and
        // the http/undici instrumentations do not trace (or propagate) the agent's own traffic.
        ({ status, text, retryAfter, location } = await context.with(suppressTracing(ROOT_CONTEXT), async () => {
          const response = await fetch(endpoint, {
            method: 'POST',
            // return=minimal (RFC 7240): a 2xx needs no body here, and the API then serialises none (a full
            // batch's answer lists 1,000 stored events).
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', prefer: 'return=minimal', 'user-agent': USER_AGENT },
            body: `{"events":[${events.join(',')}]}`,
            redirect: 'manual',
            signal: AbortSignal.timeout(timeoutMs),
          });
          return {
            status: response.status,
            text: await response.text(),
            retryAfter: response.headers.get('retry-after'),
            location: response.headers.get('location'),
          };
        }));
      } catch (err) {
        return { answered: false, reason: describeFetchError(err, timeoutMs) };
      }
      const error = status >= 200 && status < 300 ? {} : parseError(text);
      const said = `${status}${error.code ? ` ${error.code}` : ''}${error.field ? ` at ${error.field}` : ''}${error.message ? `: ${error.message}` : ''}`;
      return { answered: true, status, error, said, retryAfterMs: parseRetryAfter(retryAfter), location: location ?? undefined };
    },
  };
}

/** The batch endpoint below a base URL such as http://audit-api:8080, or undefined if it is no http(s) URL. */
export function batchEndpoint(base: string): string | undefined {
  try {
    const url = new URL(base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}${BATCH_PATH}`;
  } catch {
    return undefined;
  }
}

function parseError(text: string): AnswerError {
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
