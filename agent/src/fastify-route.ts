// Fastify 4 and 5 without a span per hook: the route on the HTTP server span and metric, and the exception
// Fastify answers with a 5xx recorded on it. Nothing is patched: every Fastify instance announces itself on
// the `fastify.initialization` channel (both versions), where it gets two hooks of its own. `onRoute` runs
// at registration and wraps each route's handler to set the route (the URL with its plugin prefixes, as the
// app wrote it) when the handler runs; `onError` runs only on the error path, and sets the route too when a
// hook or validation failed first. A request a hook answers without an error (a 401 from an auth hook) has
// no route, as with Express middleware ahead of the router. Measured against Fastify 5's
// `tracing:fastify.request.handler` channel (which Fastify 4 lacks) and a route-level onRequest hook: the
// same CPU per request within noise here, so the one that works alike on both versions and runs no extra
// hook per request.
import { subscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { activeServerRequest, recordIfAnswered5xx } from './server-request.js';
import { AGENT_VERSION } from './version.js';

type RouteHandler = (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown;
interface RouteOptions {
  url: string;
  handler: RouteHandler;
}
interface FastifyRequest {
  is404?: boolean;
  routeOptions?: { url?: string };
}
interface FastifyReply {
  raw: ServerResponse;
}
interface FastifyInstance {
  addHook(name: 'onRoute', hook: (options: RouteOptions) => void): unknown;
  addHook(name: 'onError', hook: (request: FastifyRequest, reply: FastifyReply, error: unknown, done: () => void) => void): unknown;
}

export class FastifyRouteInstrumentation extends InstrumentationBase {
  private subscribed = false;

  constructor() {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super('@lookout/agent/fastify', AGENT_VERSION, { enabled: false });
  }

  protected init() {
    return []; // nothing to patch: Fastify publishes each instance it creates
  }

  override enable(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    // The hooks read the active server request and do nothing without one, so they are never taken off.
    subscribe('fastify.initialization', onInstance);
  }

  override disable(): void {}
}

function onInstance(message: unknown): void {
  const fastify = (message as { fastify?: FastifyInstance }).fastify;
  if (typeof fastify?.addHook !== 'function') return;
  // Added before the app registers anything, so every route and child plugin inherits them.
  fastify.addHook('onRoute', wrapHandler);
  fastify.addHook('onError', onError);
}

function wrapHandler(options: RouteOptions): void {
  const { url, handler } = options;
  if (typeof url !== 'string' || typeof handler !== 'function') return;
  options.handler = function (request, reply) {
    const rpc = activeServerRequest();
    if (rpc !== undefined) rpc.route = url;
    return handler.call(this, request, reply);
  };
}

/** The error Fastify's error handler is about to answer: from the handler, a hook, or validation. */
function onError(request: FastifyRequest, reply: FastifyReply, error: unknown, done: () => void): void {
  const rpc = activeServerRequest();
  if (rpc !== undefined) {
    // A hook or validation failing before the handler ran: the route is known all the same.
    if (rpc.route === undefined && request.is404 !== true) {
      const url = request.routeOptions?.url;
      if (typeof url === 'string') rpc.route = url;
    }
    recordIfAnswered5xx(rpc.span, reply.raw, error);
  }
  done();
}
