// Liveness (/health: the process answers), readiness (/health/ready: the database answers), and
// /health/dependencies (each dependency with status and latency; 503 when any is degraded).
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Notifier } from '../stream/notifier.js';

export interface HealthDeps {
  db: Knex;
  notifier: Notifier;
  embedded: boolean;
}

export function healthRoutes(deps: HealthDeps): Router {
  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/health/ready', async (ctx) => {
    const database = await probeDatabase(deps.db);
    ctx.status = database.status === 'up' ? 200 : 503;
    ctx.body = { status: database.status === 'up' ? 'ready' : 'unavailable', database };
  });
  router.get('/health/dependencies', async (ctx) => {
    const database = await probeDatabase(deps.db);
    // Embedded PGlite has no LISTEN connection by design; that is not a degradation.
    const notifications = deps.embedded ? { status: 'local_only' } : { status: deps.notifier.listening ? 'up' : 'down' };
    const degraded = database.status !== 'up' || notifications.status === 'down';
    ctx.status = degraded ? 503 : 200;
    ctx.body = { status: degraded ? 'degraded' : 'ok', dependencies: { database, notifications } };
  });
  return router;
}

async function probeDatabase(db: Knex): Promise<{ status: 'up' | 'down'; latency_ms: number; error?: string }> {
  const start = performance.now();
  try {
    await db.raw('select 1').timeout(2000, { cancel: true });
    return { status: 'up', latency_ms: round(performance.now() - start) };
  } catch (err) {
    return { status: 'down', latency_ms: round(performance.now() - start), error: (err as Error).message.slice(0, 200) };
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
