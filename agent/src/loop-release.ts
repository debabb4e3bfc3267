// Makes an upstream OTLP exporter unable to keep the process alive: its connections and timers are unref'd,
// so an app that has finished ends on time even while a collector hangs, and lifecycle.ts alone decides how
// long the exit waits for a flush (LOOKOUT_SHUTDOWN_TIMEOUT_MS). gRPC: grpc-js refs the loop per pending
// call by design, so its transport is replaced by grpc-transport.ts. HTTP: the exporter's own agents are
// kept (certificates and keep-alive from the environment) with their sockets unref'd, and the in-call retry
// loop (a ref'd backoff timer of up to 5 s) is left out: ResilientExporter keeps a failed batch for the next
// export instead. Written against otlp-exporter-base / otlp-grpc-exporter-base 0.301 (test/hung-collector
// and test/exporters prove it); an exporter of another shape is left as it is, with a warning.
import type { Agent } from 'node:http';
import type { Socket } from 'node:net';
import { http2GrpcTransport, isGrpcParameters, type Transport } from './grpc-transport.js';
import { warn } from './warn.js';

type AgentFactory = (protocol: string) => Promise<Agent>;
interface AgentInternals {
  createConnection(...args: unknown[]): Socket | undefined;
  reuseSocket(socket: Socket, request: unknown): void;
}
interface UpstreamTransport extends Transport {
  _parameters?: unknown;
  /** RetryingTransport's inner transport. */
  _transport?: UpstreamTransport;
}
interface UpstreamExporter {
  _delegate?: { _transport?: UpstreamTransport };
}

export function releasingEventLoop<T>(exporter: T): T {
  const delegate = (exporter as UpstreamExporter)._delegate;
  const transport = delegate?._transport;
  if (delegate && transport && isGrpcParameters(transport._parameters)) {
    const ours = http2GrpcTransport(transport._parameters);
    if (ours) delegate._transport = ours;
    return exporter;
  }
  const http = transport?._transport;
  const parameters = http?._parameters as { agentFactory?: AgentFactory } | undefined;
  if (delegate && http && typeof parameters?.agentFactory === 'function') {
    parameters.agentFactory = unrefSockets(parameters.agentFactory);
    delegate._transport = http;
    return exporter;
  }
  warn('this OTLP exporter is not the version the agent knows: a hung collector may hold the process open until its export times out');
  return exporter;
}

function unrefSockets(factory: AgentFactory): AgentFactory {
  return async (protocol) => {
    const agent = (await factory(protocol)) as Agent & AgentInternals;
    // createConnection makes each socket (http.Agent and https.Agent alike); reuseSocket re-refs a pooled
    // keep-alive socket when a request takes it, so it is unref'd again there.
    const create = agent.createConnection;
    agent.createConnection = function (this: Agent, ...args: unknown[]) {
      const socket = create.apply(this, args);
      socket?.unref();
      return socket;
    };
    const reuse = agent.reuseSocket;
    agent.reuseSocket = function (this: Agent, socket: Socket, request: unknown) {
      reuse.call(this, socket, request);
      socket.unref();
    };
    return agent;
  };
}
