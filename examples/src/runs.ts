// The runs service: workflow runs on PostgreSQL (knex/pg). Starting a run stores it, records
// workflow.run.started with the audit client and queues the run on the worker; the worker records the
// outcome (workflow.run.completed or .failed, where it happens) and reports it back, which is stored here.
// A run it cannot queue, it fails and records itself. Internal: the gateway is its only caller.
import Router from '@koa/router';
import { createAuditClient, createLogger, serviceInstruments } from '@lookout/agent';
import { runsConfig } from './config.js';
import { serviceApp } from './lib/app.js';
import { auditTokens } from './lib/audit-token.js';
import { callService } from './lib/call.js';
import { tenantOf, userOf } from './lib/caller.js';
import { HttpError } from './lib/errors.js';
import { FaultInjector } from './lib/fault.js';
import { healthEndpoints, serviceDependency } from './lib/health.js';
import { main, serve } from './lib/serve.js';
import { RUN_ID } from './run-id.js';
import { RunsStore, type Run } from './runs-store.js';

const log = createLogger({ defaultMeta: { component: 'runs' } });
const WORKFLOW_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

async function start(): Promise<void> {
  const config = runsConfig((message) => log.warn(message));
  const store = new RunsStore(config.databaseUrl);
  const applied = await store.migrate();
  log.info('migrations applied', { applied });
  serviceInstruments('runs').pool('runs-db', () => store.poolStats());
  const audit = createAuditClient(config.auditJwtSecret ? { token: auditTokens(config.auditJwtSecret, 'runs-service') } : {});
  const faults = config.faultInjection ? new FaultInjector('runs', log) : undefined;

  const router = new Router();
  router.post('/workflows/:workflowId/runs', async (ctx) => {
    const tenant = tenantOf(ctx);
    const user = userOf(ctx);
    const workflowId = ctx.params.workflowId!;
    if (!WORKFLOW_ID.test(workflowId)) throw new HttpError(400, 'invalid_workflow', 'the workflow id must be 1–64 characters of a-z, 0-9, _ and -', 'workflowId');
    const run = await store.create(tenant, workflowId, user);
    audit.record('workflow.run.started', {
      tenant,
      actor: { type: 'user', id: user },
      object: { type: 'workflow_run', id: run.id },
      metadata: { workflow_id: workflowId, run_id: run.id, trigger: 'api' },
    });
    log.info('run queued', { run_id: run.id, workflow_id: workflowId, tenant });
    const queued = await callService(config.workerUrl, 'POST', '/jobs', { body: { run_id: run.id, tenant_id: tenant, workflow_id: workflowId } }).catch((err: unknown) => err as HttpError);
    if (queued instanceof HttpError || queued.status !== 202) {
      // The run exists but nobody will run it: fail it now, so it does not sit queued for ever.
      const reason = queued instanceof HttpError ? queued.code : `worker_status_${queued.status}`;
      if (await finish(tenant, run.id, { status: 'failed', durationMs: 0, errorCode: 'enqueue_failed' })) {
        // This outcome is the runs service's own: no worker ever had the run.
        audit.record('workflow.run.failed', {
          tenant,
          actor: { type: 'service', id: 'runs-service' },
          object: { type: 'workflow_run', id: run.id },
          status: 'failure',
          metadata: { workflow_id: workflowId, run_id: run.id, error_code: 'enqueue_failed', duration_ms: 0 },
        });
      }
      throw new HttpError(503, 'worker_unavailable', `the run ${run.id} could not be queued (${reason}) and was marked failed`);
    }
    ctx.status = 201;
    ctx.body = { data: present(run) };
  });

  router.get('/runs', async (ctx) => {
    const limit = Number(ctx.query.limit ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new HttpError(400, 'invalid_limit', 'limit must be a whole number from 1 to 100', 'limit');
    ctx.body = { data: (await store.recent(tenantOf(ctx), limit)).map(present) };
  });

  router.get('/runs/:id', async (ctx) => {
    ctx.body = { data: present(await found(tenantOf(ctx), ctx.params.id!)) };
  });

  router.post('/runs/:id/result', async (ctx) => {
    const tenant = tenantOf(ctx);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (body.status !== 'completed' && body.status !== 'failed') throw new HttpError(400, 'invalid_status', 'status must be "completed" or "failed"', 'status');
    if (typeof body.duration_ms !== 'number' || !(body.duration_ms >= 0)) throw new HttpError(400, 'invalid_duration', 'duration_ms must be a number of milliseconds', 'duration_ms');
    if (body.status === 'failed' && (typeof body.error_code !== 'string' || body.error_code.length === 0 || body.error_code.length > 256)) {
      throw new HttpError(400, 'invalid_error_code', 'a failed run needs an error_code of 1–256 characters', 'error_code');
    }
    await found(tenant, ctx.params.id!);
    const run = await finish(tenant, ctx.params.id!, { status: body.status, durationMs: body.duration_ms, errorCode: body.error_code as string | undefined });
    if (!run) throw new HttpError(409, 'already_finished', `run ${ctx.params.id} already has its outcome`);
    ctx.body = { data: present(run) };
  });

  async function found(tenant: string, id: string): Promise<Run> {
    if (!RUN_ID.test(id)) throw new HttpError(400, 'invalid_run_id', 'a run id is a UUID', 'id');
    const run = await store.get(tenant, id);
    if (!run) throw new HttpError(404, 'run_not_found', `no run ${id} for this tenant`);
    return run;
  }

  async function finish(tenant: string, id: string, outcome: { status: 'completed' | 'failed'; durationMs: number; errorCode?: string | undefined }): Promise<Run | undefined> {
    const run = await store.finish(tenant, id, { status: outcome.status, durationMs: outcome.durationMs, ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}) });
    if (!run) return undefined;
    log.log(outcome.status === 'completed' ? 'info' : 'warn', `run ${outcome.status}`, { run_id: run.id, workflow_id: run.workflow_id, tenant, duration_ms: outcome.durationMs, error_code: outcome.errorCode });
    return run;
  }

  const health = healthEndpoints({
    database: () => store.ping(),
    dependencies: [
      // Required: a run that cannot be queued on the worker fails at once (503 worker_unavailable).
      serviceDependency('worker', config.workerUrl, true),
      // Not required: the audit client buffers and retries while the audit API is away; runs go on.
      ...(config.auditUrl ? [serviceDependency('audit-api', config.auditUrl, false)] : []),
    ],
  });
  await serve('runs', serviceApp(log, { jsonLimit: '64kb', health, faults }, router), config, log, async () => {
    await audit.shutdown(5000);
    await store.close();
  });
}

function present(run: Run) {
  return {
    id: run.id,
    workflow_id: run.workflow_id,
    status: run.status,
    requested_by: run.requested_by,
    created_at: run.created_at,
    finished_at: run.finished_at,
    duration_ms: run.duration_ms,
    error_code: run.error_code,
  };
}

main(log, start);
