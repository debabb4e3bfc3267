// Express 4 and 5 without a span per middleware: the matched route, with the paths its routers and sub-apps
// are mounted at, on the HTTP server span and metric, and the exception an error handler or Express's final
// handler answers with a 5xx recorded on it. Nothing runs per middleware: the route is set where Express
// dispatches the matched route, the mount path where a router or sub-app is entered, and the error only on
// the error path. (Express 5's router publishes an `express.router.request` tracing channel, but for every
// middleware of every request; it has no Express 4 equivalent.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoadPatchInstrumentation } from './load-patch.js';
import { activeServerRequest, recordIfAnswered5xx } from './server-request.js';

type Next = (err?: unknown) => void;
type Handler = (req: ExpressRequest, res: ServerResponse, next: Next) => unknown;
type RoutePath = string | RegExp | Array<string | RegExp>;

interface ExpressRequest extends IncomingMessage {
  /** Set by Express from its first router on: undefined only for the app's own (outermost) router. */
  baseUrl?: string;
  /** The route templates of the routers and sub-apps the request is inside, joined. */
  [kMountPath]?: string;
}
interface Route {
  path: RoutePath;
  stack: object[];
  dispatch(req: ExpressRequest, res: ServerResponse, done: Next): unknown;
  all(handler: Handler): unknown;
  [kFullPath]?: { mount: string | undefined; route: string };
}
interface RouterProto {
  handle(req: ExpressRequest, res: ServerResponse, callback: Next): unknown;
  use(...args: unknown[]): unknown;
  stack?: Layer[];
}
/** Express 5 (the `router` package) names the methods handleRequest/handleError; Express 4 handle_request/handle_error. */
interface Layer {
  handle: { length: number };
  handleRequest?: Handler;
  handle_request?: Handler;
  handleError?: (error: unknown, req: ExpressRequest, res: ServerResponse, next: Next) => unknown;
  handle_error?: (error: unknown, req: ExpressRequest, res: ServerResponse, next: Next) => unknown;
}
interface Express {
  Router: RouterProto & { prototype?: Partial<RouterProto> };
  Route: { new (path: string): Route; prototype: Route };
}

const kMountPath = Symbol('lookout.expressMountPath');
const kFullPath = Symbol('lookout.expressFullPath');
const kPatched = Symbol.for('lookout.expressPatched');

export class ExpressRouteInstrumentation extends LoadPatchInstrumentation {
  constructor() {
    // Express 4 and 5 alike export Router and Route from the main file. Express 5's come from the `router`
    // package, which Express requires by name before this runs.
    super('express', [{ pkg: 'express', file: 'index.js', main: true, patch: (express) => patchExpress(express as Express) }]);
  }
}

function patchExpress(express: Express): void {
  const { Route } = express;
  // Express 4's Router is the prototype object itself; Express 5's is a class.
  const router = (typeof express.Router.prototype?.handle === 'function' ? express.Router.prototype : express.Router) as RouterProto & {
    [kPatched]?: true;
  };
  if (router[kPatched] || typeof Route?.prototype?.dispatch !== 'function') return;
  // Layer is not exported: take its prototype from a route's first layer.
  const probe = new Route('/');
  probe.all(() => undefined);
  const layer = Object.getPrototypeOf(probe.stack[0]) as Layer;
  const handleName = typeof layer.handleRequest === 'function' ? 'handleRequest' : 'handle_request';
  const errorName = typeof layer.handleError === 'function' ? 'handleError' : 'handle_error';
  if (typeof layer[handleName] !== 'function' || typeof layer[errorName] !== 'function') return;

  patchDispatch(Route.prototype);
  patchUse(router, handleName);
  patchHandle(router);
  patchHandleError(layer, errorName);
  router[kPatched] = true;
}

/** Once per matched route: the route is the template the app wrote, under the paths it is mounted at. */
function patchDispatch(route: Route): void {
  const dispatch = route.dispatch;
  route.dispatch = function (this: Route, req, res, done) {
    const rpc = activeServerRequest();
    if (rpc !== undefined) rpc.route = fullPath(this, req[kMountPath]);
    return dispatch.call(this, req, res, done);
  };
}

function fullPath(route: Route, mount: string | undefined): string {
  // Cached per route: a route is nearly always reached under one mount path.
  const cached = route[kFullPath];
  if (cached !== undefined && cached.mount === mount) return cached.route;
  const own = template(route.path);
  // As upstream's Express instrumentation: router.get('/') under '/api' is '/api'.
  const full = mount === undefined ? own : own === '/' ? mount : mount + own;
  route[kFullPath] = { mount, route: full };
  return full;
}

/** Arrays as upstream's Express instrumentation writes them ("/a,/b"), regular expressions as written. */
function template(path: RoutePath): string {
  return Array.isArray(path) ? path.map(String).join(',') : String(path);
}

/**
 * At registration, not per request: a router or sub-app mounted at a path gets its own handleRequest that
 * adds the path's template to the request while the request is inside it, so routes under
 * `app.use('/orgs/:org', router)` read `/orgs/:org/…` rather than the concrete req.baseUrl. The layer's
 * handle stays the app's function, for anything that walks the router stack.
 */
function patchUse(router: RouterProto, handleName: 'handleRequest' | 'handle_request'): void {
  const use = router.use;
  router.use = function (this: RouterProto, ...args: unknown[]) {
    const stack = this.stack;
    const before = stack?.length ?? 0;
    const result = use.apply(this, args);
    const mount = stack === undefined ? undefined : mountPath(args);
    if (mount !== undefined) {
      for (let i = before; i < stack!.length; i++) {
        const layer = stack![i]!;
        if (isMountable(layer.handle)) mountAt(layer, handleName, mount);
      }
    }
    return result;
  };
}

/** The path argument of `use([path,] ...handlers)` as a route prefix, or undefined when there is none. */
function mountPath(args: unknown[]): string | undefined {
  // Express's own disambiguation: the first argument is a path unless it is (an array of) functions.
  let first = args[0];
  while (Array.isArray(first) && first.length !== 0) first = first[0];
  if (first === undefined || typeof first === 'function') return undefined;
  // '/api/' + '/users' is '/api/users'; a mount at '/' adds nothing.
  const mount = typeof args[0] === 'string' ? args[0].replace(/\/+$/, '') : template(args[0] as RoutePath);
  return mount === '' ? undefined : mount;
}

/** A Router (Express 4 or 5, from any copy of it) or the wrapper Express mounts a sub-app with. */
function isMountable(handle: unknown): boolean {
  const fn = handle as { handle?: unknown; stack?: unknown; name?: string };
  return (typeof fn.handle === 'function' && Array.isArray(fn.stack)) || fn.name === 'mounted_app';
}

function mountAt(layer: Layer, handleName: 'handleRequest' | 'handle_request', mount: string): void {
  const handle = layer[handleName]!;
  layer[handleName] = function (req, res, next) {
    const outer = req[kMountPath];
    req[kMountPath] = outer === undefined ? mount : outer + mount;
    // Leaving the router without an answer (next) takes the request back out of its path.
    return handle.call(this, req, res, (err?: unknown) => {
      req[kMountPath] = outer;
      next(err);
    });
  };
}

/**
 * The app's outermost router, once per request: its callback is Express's final handler, reached only by a
 * request nothing answered (a 404, which keeps no route a route handler set before passing it on) or by an
 * error no error handler took (answered with its status or 500).
 */
function patchHandle(router: RouterProto): void {
  const handle = router.handle;
  router.handle = function (req, res, callback) {
    const rpc = req.baseUrl === undefined ? activeServerRequest() : undefined;
    if (rpc === undefined) return handle.call(this, req, res, callback);
    return handle.call(this, req, res, (err?: unknown) => {
      if (err) recordIfAnswered5xx(rpc.span, res, err);
      else if (!res.headersSent) rpc.route = undefined;
      callback(err);
    });
  };
}

/** Only on the error path: the error an error-handling middleware (four arguments) is given. */
function patchHandleError(layer: Layer, errorName: 'handleError' | 'handle_error'): void {
  const handleError = layer[errorName]!;
  layer[errorName] = function (this: Layer, error, req, res, next) {
    if (this.handle.length === 4) {
      const rpc = activeServerRequest();
      if (rpc !== undefined) recordIfAnswered5xx(rpc.span, res, error);
    }
    return handleError.call(this, error, req, res, next);
  };
}
