// Calls another service with JSON, passing the request id on (trace context is propagated by the agent's
// fetch instrumentation). Upstream trouble becomes a 502/504 HttpError instead of an unhandled rejection.
import { currentRequestId, REQUEST_ID_HEADER } from '@lookout/agent';
import { HttpError } from './errors.js';

export interface Reply {
  status: number;
  body: unknown;
}

export async function callService(base: URL, method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Reply> {
  const requestId = currentRequestId();
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(requestId ? { [REQUEST_ID_HEADER]: requestId } : {}),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new HttpError(timedOut ? 504 : 502, timedOut ? 'upstream_timeout' : 'upstream_unavailable', `${url.host}: ${timedOut ? 'no answer in time' : (err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body };
}
