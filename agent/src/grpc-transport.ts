// OTLP over gRPC without holding the app's event loop. grpc-js keeps the process alive while a call is
// pending (a ref'd session, deadline timer and pick-queue timer per call, by design): with a collector that
// accepts connections and never answers, an app that closed its server stayed up until every export timed
// out, and a new export started meanwhile. This transport sends the same unary gRPC request (the exporter's
// own serialized bytes, its metadata, credentials, compression and timeout) over Node's http2 with the
// session and timers unref'd, so telemetry never decides when the process ends; lifecycle.ts holds the loop
// for the bounded flush at exit instead. It replaces only the transport inside upstream's exporter: the
// serializer, response handling, concurrency limit and self-observability metrics stay upstream's.
import http2 from 'node:http2';
import type { SecureContext } from 'node:tls';
import { gzip } from 'node:zlib';
import type { ExportResponse } from '@opentelemetry/otlp-exporter-base';

/** What upstream's GrpcExporterTransport is constructed with (otlp-grpc-exporter-base 0.301). */
export interface GrpcParameters {
  address: string;
  grpcPath: string;
  compression: 'gzip' | 'none';
  userAgent?: string;
  credentials(): { _isSecure(): boolean; secureContext?: SecureContext; verifyOptions?: { checkServerIdentity?: http2.SecureClientSessionOptions['checkServerIdentity'] } };
  metadata(): { getMap(): Record<string, string | Buffer> };
}
export interface Transport {
  send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse>;
  shutdown(): void;
}
export function isGrpcParameters(value: unknown): value is GrpcParameters {
  const v = value as Partial<GrpcParameters> | undefined;
  return typeof v?.address === 'string' && typeof v.grpcPath === 'string' && typeof v.credentials === 'function' && typeof v.metadata === 'function';
}

/** The transport for an upstream exporter's gRPC parameters, or undefined where it cannot serve them (unix sockets, unknown credentials). */
export function http2GrpcTransport(parameters: GrpcParameters): Http2GrpcTransport | undefined {
  const credentials = parameters.credentials();
  const secure = credentials._isSecure();
  if (parameters.address.startsWith('unix:') || (secure && credentials.secureContext === undefined)) return undefined;
  if (!secure) return new Http2GrpcTransport(parameters, undefined);
  // The certificates from OTEL_EXPORTER_OTLP_CERTIFICATE/_CLIENT_* are in the secure context; Node checks the
  // host name itself unless the credentials bring their own check.
  const checkServerIdentity = credentials.verifyOptions?.checkServerIdentity;
  return new Http2GrpcTransport(parameters, { secureContext: credentials.secureContext, ...(checkServerIdentity ? { checkServerIdentity } : {}) });
}

// gRPC status codes this transport reports (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;
const INTERNAL = 13;
const UNKNOWN = 2;
const USER_AGENT = 'OTel-OTLP-Exporter-JavaScript (@lookout/agent http2 transport)';

export class Http2GrpcTransport implements Transport {
  private session: http2.ClientHttp2Session | undefined;
  private readonly origin: string;
  private headers: http2.OutgoingHttpHeaders | undefined;

  constructor(
    private readonly parameters: GrpcParameters,
    private readonly tls: http2.SecureClientSessionOptions | undefined,
  ) {
    this.origin = `${tls ? 'https' : 'http'}://${parameters.address.replace(/^dns:(\/\/[^/]*\/)?/, '')}`;
  }

  send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    return new Promise((resolve) => {
      let headers: http2.OutgoingHttpHeaders;
      try {
        headers = this.requestHeaders();
      } catch (error) {
        return resolve({ status: 'failure', error: error as Error });
      }
      const compress = this.parameters.compression === 'gzip';
      const body = compress ? new Promise<Uint8Array>((ok, fail) => gzip(data, (err, out) => (err ? fail(err) : ok(out)))) : Promise.resolve(data);
      body.then(
        (payload) => this.call(headers, frame(payload, compress), timeoutMillis, resolve),
        (error: Error) => resolve({ status: 'failure', error }),
      );
    });
  }

  /** Abandons the connection and whatever is still in flight on it. */
  shutdown(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  private call(headers: http2.OutgoingHttpHeaders, body: Buffer, timeoutMillis: number, done: (response: ExportResponse) => void): void {
    let settled = false;
    const finish = (response: ExportResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(response);
    };
    const fail = (code: number, message: string) => finish({ status: 'failure', error: grpcError(code, message) });
    // Unref'd: an export never keeps the process alive, however long the collector takes.
    const timer = setTimeout(() => {
      stream?.close(http2.constants.NGHTTP2_CANCEL);
      fail(DEADLINE_EXCEEDED, `Deadline exceeded after ${timeoutMillis} ms`);
    }, timeoutMillis).unref();
    let stream: http2.ClientHttp2Stream | undefined;
    try {
      stream = this.connect().request({ ...headers, 'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMillis))}m` });
    } catch (error) {
      this.shutdown();
      return fail(UNAVAILABLE, (error as Error).message);
    }
    const chunks: Buffer[] = [];
    let status: number | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    stream.on('response', (h) => {
      status = Number(h[':status']);
      // A trailers-only answer (an error before any message) carries the status in the headers.
      if (h['grpc-status'] !== undefined) [grpcStatus, grpcMessage] = [String(h['grpc-status']), h['grpc-message'] as string | undefined];
    });
    stream.on('trailers', (h) => {
      if (h['grpc-status'] !== undefined) [grpcStatus, grpcMessage] = [String(h['grpc-status']), h['grpc-message'] as string | undefined];
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error) => fail(UNAVAILABLE, error.message));
    stream.on('close', () => {
      if (status === undefined) return fail(UNAVAILABLE, `connection to ${this.origin} closed before an answer`);
      if (status !== 200) return fail(httpToGrpc(status), `HTTP ${status} from ${this.origin}`);
      if (grpcStatus === undefined) return fail(UNKNOWN, 'no grpc-status in the answer');
      if (grpcStatus !== '0') return fail(Number(grpcStatus), decodeURIComponent(grpcMessage ?? ''));
      const response = Buffer.concat(chunks);
      // A length-prefixed message (1-byte compressed flag, 4-byte length); the partial-success body, if any.
      finish({ status: 'success', data: response.length >= 5 ? response.subarray(5, 5 + response.readUInt32BE(1)) : undefined });
    });
    stream.end(body);
  }

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.origin, this.tls ?? {});
    // The socket exists from here on: unref it now and on connect (Node re-refs nothing after this).
    session.unref();
    session.on('connect', () => session.unref());
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    this.session = session;
    return session;
  }

  private requestHeaders(): http2.OutgoingHttpHeaders {
    if (!this.headers) {
      const headers: http2.OutgoingHttpHeaders = {};
      for (const [key, value] of Object.entries(this.parameters.metadata().getMap())) {
        // Binary metadata travels base64-encoded in "-bin" headers, as grpc-js sends it.
        headers[key] = Buffer.isBuffer(value) ? value.toString('base64') : value;
      }
      Object.assign(headers, {
        ':method': 'POST',
        ':path': this.parameters.grpcPath,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': this.parameters.userAgent ? `${this.parameters.userAgent} ${USER_AGENT}` : USER_AGENT,
        ...(this.parameters.compression === 'gzip' ? { 'grpc-encoding': 'gzip', 'grpc-accept-encoding': 'identity,gzip' } : {}),
      });
      this.headers = headers;
    }
    return this.headers;
  }
}

function frame(payload: Uint8Array, compressed: boolean): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** HTTP statuses a proxy may answer with, mapped as the gRPC spec's http-grpc-status-mapping says. */
function httpToGrpc(status: number): number {
  if (status === 400) return INTERNAL;
  if (status === 401) return 16; // UNAUTHENTICATED
  if (status === 403) return 7; // PERMISSION_DENIED
  if (status === 404) return 12; // UNIMPLEMENTED
  if (status === 429 || status === 502 || status === 503 || status === 504) return UNAVAILABLE;
  return UNKNOWN;
}

function grpcError(code: number, details: string): Error & { code: number; details: string } {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

