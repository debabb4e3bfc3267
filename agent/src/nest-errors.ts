// NestJS catches a handler's exception in its exception filters and answers it itself, so the HTTP
// framework underneath (Express) never sees it: this records the exception on the HTTP server span when
// Nest's built-in filter answers it with a 5xx. The route needs nothing here: Nest registers each route with
// Express under its full path (global and controller prefixes included), so express-route.ts names it.
// @nestjs/core is an ES module. An app compiled to CommonJS (Nest's default) requires it by name, which
// module-hook.ts sees; an app that imports it as an ES module is out of reach without a loader hook, which
// would cost every module load of the app, so there only the route and the 5xx status are recorded.
import type { ServerResponse } from 'node:http';
import { LoadPatchInstrumentation } from './load-patch.js';
import { activeServerRequest, recordIfAnswered5xx } from './server-request.js';

interface ArgumentsHost {
  getArgByIndex(index: number): unknown;
}
interface BaseExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): unknown;
  [kPatched]?: true;
}
const kPatched = Symbol.for('lookout.nestExceptionFilterPatched');

export class NestErrorsInstrumentation extends LoadPatchInstrumentation {
  constructor() {
    // require('@nestjs/core') of an ES module returns its namespace, which exports the filter class.
    super('nestjs', [
      {
        pkg: '@nestjs/core',
        file: 'index.js',
        main: true,
        patch: (exports) => {
          const filter = (exports as { BaseExceptionFilter?: { prototype?: BaseExceptionFilter } }).BaseExceptionFilter?.prototype;
          if (typeof filter?.catch === 'function') patchCatch(filter);
        },
      },
    ]);
  }
}

/**
 * BaseExceptionFilter#catch answers every exception no custom filter took (unknown errors with 500), and
 * is what a custom filter extending it calls for the cases it leaves to Nest.
 */
function patchCatch(filter: BaseExceptionFilter): void {
  if (filter[kPatched]) return;
  const original = filter.catch;
  filter.catch = function (exception, host) {
    const rpc = activeServerRequest();
    const response = rpc === undefined ? undefined : host?.getArgByIndex?.(1);
    if (rpc !== undefined && isServerResponse(response)) recordIfAnswered5xx(rpc.span, response, exception);
    return original.call(this, exception, host);
  };
  filter[kPatched] = true;
}

/** Nest on Express passes Express's response, a ServerResponse; on other adapters (or outside HTTP) it is not. */
function isServerResponse(value: unknown): value is ServerResponse {
  return typeof (value as ServerResponse | undefined)?.once === 'function' && typeof (value as ServerResponse).statusCode === 'number';
}
