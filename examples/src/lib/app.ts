// The middleware every example service runs, composed in one place and in this order: errors as JSON, the
// health endpoints, a JSON body parser, fault injection with its admin routes (where the service has it), then its routes.
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { HealthMiddleware } from '@lookout/agent';
import Koa from 'koa';
import { errorHandler } from './errors.js';
import type { FaultInjector } from './fault.js';
import type { Logger } from './logger.js';

export function serviceApp(log: Logger, options: { jsonLimit: string; health: HealthMiddleware; faults?: FaultInjector | undefined }, ...routers: Router[]): Koa {
  const app = new Koa();
  app.silent = true; // errors are logged by errorHandler, with their trace id
  app.use(errorHandler(log));
  app.use(options.health);
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: options.jsonLimit }));
  if (options.faults) {
    app.use(options.faults.middleware());
    app.use(options.faults.routes().routes());
  }
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
