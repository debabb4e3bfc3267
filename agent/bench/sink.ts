// The OTLP/gRPC sink every instrumented variant exports to. It counts spans, metric streams and log
// records per service.name and keeps nothing. It walks the protobuf only as deep as the resource and the
// item boundaries instead of decoding: the test receiver's protobufjs decoding took 20–110 µs of CPU per
// request served (this: 7–30 µs, mostly gRPC), CPU taken from the app on a 2-core machine, and the more
// from the variant that delivers more.
// Answers 'counts' with the counts and its own CPU time.
import * as grpc from '@grpc/grpc-js';
import type { Signals } from './harness.js';

type Signal = keyof Signals;
const SERVICES: Record<Signal, string> = {
  traces: 'opentelemetry.proto.collector.trace.v1.TraceService',
  metrics: 'opentelemetry.proto.collector.metrics.v1.MetricsService',
  logs: 'opentelemetry.proto.collector.logs.v1.LogsService',
};
const EMPTY = Buffer.alloc(0); // an Export*ServiceResponse with no partial_success: all accepted

const countsByService: Record<string, Signals> = {};

/**
 * Export{Trace,Metrics,Logs}ServiceRequest share one shape: repeated Resource{Spans,Metrics,Logs} = 1,
 * each with Resource resource = 1 and repeated Scope{Spans,Metrics,Logs} = 2, each with scope = 1 and the
 * repeated items = 2. Counts the items under each resource's service.name.
 */
function count(signal: Signal, request: Buffer): void {
  forEachField(request, 0, request.length, (field, start, end) => {
    if (field !== 1) return;
    let service = 'unknown_service';
    let items = 0;
    forEachField(request, start, end, (f, s, e) => {
      if (f === 1) service = serviceName(request, s, e) ?? service;
      else if (f === 2) forEachField(request, s, e, (itemField) => void (itemField === 2 && items++));
    });
    (countsByService[service] ??= { traces: 0, metrics: 0, logs: 0 })[signal] += items;
  });
}

/** Resource { repeated KeyValue attributes = 1 }, KeyValue { key = 1; AnyValue value = 2 }, AnyValue { string_value = 1 }. */
function serviceName(buf: Buffer, start: number, end: number): string | undefined {
  let found: string | undefined;
  forEachField(buf, start, end, (field, s, e) => {
    if (field !== 1 || found !== undefined) return;
    let key: string | undefined;
    let value: [number, number] | undefined;
    forEachField(buf, s, e, (f, ks, ke) => {
      if (f === 1) key = buf.toString('utf8', ks, ke);
      else if (f === 2) value = [ks, ke];
    });
    if (key === 'service.name' && value) forEachField(buf, value[0], value[1], (f, vs, ve) => void (f === 1 && (found = buf.toString('utf8', vs, ve))));
  });
  return found;
}

/** Calls `visit` for every length-delimited field in buf[start, end); skips the other wire types. */
function forEachField(buf: Buffer, start: number, end: number, visit: (field: number, start: number, end: number) => void): void {
  let pos = start;
  while (pos < end) {
    let tag: number;
    [tag, pos] = varint(buf, pos);
    const wire = tag & 7;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let length: number;
      [length, pos] = varint(buf, pos);
      visit(tag >>> 3, pos, pos + length);
      pos += length;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

function varint(buf: Buffer, pos: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++]!;
    // Lengths and tags fit in 32 bits; larger varints (skipped values) only need to be stepped over.
    if (shift < 28) value |= (byte & 0x7f) << shift;
    if (byte < 0x80) return [value >>> 0, pos];
    shift += 7;
  }
}

const server = new grpc.Server();
for (const [signal, service] of Object.entries(SERVICES) as Array<[Signal, string]>) {
  const definition: grpc.ServiceDefinition = {
    Export: {
      path: `/${service}/Export`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: () => EMPTY,
      responseDeserialize: () => ({}),
    },
  };
  server.addService(definition, {
    Export: (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      try {
        count(signal, call.request);
        callback(null, {});
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: String(err) });
      }
    },
  });
}
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
);
process.send?.({ port });
process.on('message', (message) => {
  if (message !== 'counts') return;
  const { user, system } = process.cpuUsage();
  process.send?.({ byService: countsByService, cpuMs: (user + system) / 1000 });
});
process.on('disconnect', () => {
  server.forceShutdown();
  process.exit(0);
});
