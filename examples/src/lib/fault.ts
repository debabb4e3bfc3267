// Fault injection for demos and alert drills: `PUT /admin/fault` makes a share of this service's requests
// fail with 500 and/or answer late, for a bounded time, after which the fault clears by itself (a drill
// forgotten at 5 p.m. must not page someone at 3 a.m.). The traffic generator's `inject` command drives it.
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { HttpError } from './errors.js';
import type { Logger } from './logger.js';

export interface Fault {
  /** Share of requests answered with 500 injected_fault, 0–1. */
  errorRatio: number;
  /** Added before every request is handled. */
  delayMs: number;
  /** When the fault clears by itself (epoch ms). */
  until: number;
}

const MAX_DURATION_S = 3600;
const MAX_DELAY_MS = 60_000;

export class FaultInjector {
  private fault: Fault | undefined;

  constructor(
    private readonly service: string,
    private readonly log: Logger,
  ) {}

  current(): Fault | undefined {
    if (this.fault && Date.now() >= this.fault.until) {
      this.log.info('injected fault cleared: its time is up');
      this.fault = undefined;
    }
    return this.fault;
  }

  /** Delays and fails requests per the current fault. Admin and health routes are never affected. */
  middleware(): Middleware {
    return async (ctx, next) => {
      const fault = ctx.path.startsWith('/admin/') || ctx.path.startsWith('/health') ? undefined : this.current();
      if (fault) {
        if (fault.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
        // errorHandler logs the 500 it becomes.
        if (Math.random() < fault.errorRatio) {
          throw new HttpError(500, 'injected_fault', `an injected fault (PUT /admin/fault on ${this.service}) failed this request`);
        }
      }
      await next();
    };
  }

  /** GET, PUT and DELETE /admin/fault. PUT body: { error_ratio?, delay_ms?, duration_s? }. */
  routes(): Router {
    const router = new Router({ prefix: '/admin/fault' });
    router.get('/', (ctx) => {
      ctx.body = describe(this.current());
    });
    router.put('/', (ctx) => {
      const body = (ctx.request.body ?? {}) as Record<string, unknown>;
      const errorRatio = field(body, 'error_ratio', 0, 0, 1);
      const delayMs = field(body, 'delay_ms', 0, 0, MAX_DELAY_MS);
      const durationS = field(body, 'duration_s', 300, 1, MAX_DURATION_S);
      if (errorRatio === 0 && delayMs === 0) throw new HttpError(400, 'invalid_fault', 'set error_ratio above 0, delay_ms above 0, or both', 'error_ratio');
      this.fault = { errorRatio, delayMs, until: Date.now() + durationS * 1000 };
      this.log.warn('fault injected', { error_ratio: errorRatio, delay_ms: delayMs, duration_s: durationS });
      ctx.body = describe(this.fault);
    });
    router.delete('/', (ctx) => {
      if (this.fault) this.log.info('injected fault cleared');
      this.fault = undefined;
      ctx.body = describe(undefined);
    });
    return router;
  }
}

function describe(fault: Fault | undefined) {
  if (!fault) return { active: false };
  return { active: true, error_ratio: fault.errorRatio, delay_ms: fault.delayMs, until: new Date(fault.until).toISOString() };
}

function field(body: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = body[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new HttpError(400, 'invalid_fault', `${name} must be a number from ${min} to ${max}`, name);
  }
  return value;
}
