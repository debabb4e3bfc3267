// The worker: takes runs from the runs service (POST /jobs, 202), works through them a few at a time
// (simulated steps, a small share failing as a business outcome), records each outcome where it happens
// (workflow.run.completed or .failed) and reports it back to the runs service. Exposes its queue depth and
// processing duration through the agent's service instruments.
import Router from '@koa/router';
import { createAuditClient, createLogger, currentRequestId, serviceInstruments } from '@lookout/agent';
import { workerConfig } from './config.js';
import { serviceApp } from './lib/app.js';
import { auditTokens } from './lib/audit-token.js';
import { callService } from './lib/call.js';
import { TENANT_HEADER } from './lib/caller.js';
import { HttpError } from './lib/errors.js';
import { FaultInjector } from './lib/fault.js';
import { healthEndpoints, serviceDependency } from './lib/health.js';
import { main, serve } from './lib/serve.js';
import { JobQueue, type Job } from './job-queue.js';
import { RUN_ID } from './run-id.js';

const log = createLogger({ defaultMeta: { component: 'worker' } });
const QUEUE = 'workflow-runs';
/** Attempts to report one outcome: 0.25 + 0.5 + 1 + 2 s of backoff in all. */
const REPORT_ATTEMPTS = 5;
/** How long a stopping worker keeps working through its queue (compose gives it 30 s before SIGKILL). */
const DRAIN_MS = 20_000;

interface RunJob {
  run_id: string;
  tenant_id: string;
  workflow_id: string;
}

async function start(): Promise<void> {
  const config = workerConfig((message) => log.warn(message));
  const instruments = serviceInstruments('worker');
  const faults = config.faultInjection ? new FaultInjector('worker', log) : undefined;
  const audit = createAuditClient(config.auditJwtSecret ? { token: auditTokens(config.auditJwtSecret, 'worker') } : {});

  const work = async (job: Job<RunJob>): Promise<void> => {
    const { run_id, tenant_id, workflow_id } = job.payload;
    log.info('run started', { run_id, workflow_id, tenant: tenant_id, waited_ms: Date.now() - job.enqueuedAt });
    const started = performance.now();
    const outcome = await instruments
      .time('workflow.run', async () => {
        const [min, max] = config.workMs;
        await new Promise((resolve) => setTimeout(resolve, min + Math.random() * (max - min)));
        if (Math.random() < config.failureRatio) throw new Error('step_failed');
      }, { 'messaging.destination.name': QUEUE })
      .then(
        () => ({ status: 'completed' as const }),
        (err: Error) => ({ status: 'failed' as const, error_code: err.message }),
      );
    const duration_ms = Math.round(performance.now() - started);
    // The worker owns a run's outcome: it is recorded here, once per execution, whether or not the report
    // below gets through (the runs service records a run's start, and the failure of a run it could not queue).
    audit.record(outcome.status === 'completed' ? 'workflow.run.completed' : 'workflow.run.failed', {
      tenant: tenant_id,
      actor: { type: 'service', id: 'worker' },
      object: { type: 'workflow_run', id: run_id },
      status: outcome.status === 'completed' ? 'success' : 'failure',
      metadata: { workflow_id, run_id, duration_ms, ...(outcome.status === 'failed' ? { error_code: outcome.error_code.slice(0, 256) } : {}) },
    });
    await report(job.payload, { ...outcome, duration_ms });
    log.info('run finished', { run_id, workflow_id, tenant: tenant_id, outcome: outcome.status, duration_ms });
  };

  /**
   * Tells the runs service the outcome, retrying while it fails or is unreachable (a fault or a restart
   * must not leave the run queued for ever). 409 means an earlier attempt got through. After the last
   * attempt the run stays queued there, and the error is logged and on the span.
   */
  const report = async (job: RunJob, outcome: Record<string, unknown>): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const reply = await callService(config.runsUrl, 'POST', `/runs/${encodeURIComponent(job.run_id)}/result`, {
        headers: { [TENANT_HEADER]: job.tenant_id },
        body: outcome,
      }).catch((err: HttpError) => ({ status: err.status, body: { error: { code: err.code, message: err.message } } }));
      if (reply.status === 200 || reply.status === 409) return;
      const retry = reply.status >= 500 && attempt < REPORT_ATTEMPTS;
      log.log(retry ? 'warn' : 'error', retry ? 'run outcome not recorded yet, retrying' : 'run outcome not recorded', { run_id: job.run_id, attempt, status: reply.status, reply: reply.body });
      if (!retry) throw new Error(`runs service answered ${reply.status} to the outcome of run ${job.run_id}`);
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
    }
  };
  const queue = new JobQueue<RunJob>(QUEUE, config.concurrency, config.maxQueued, work);
  instruments.queueDepth(QUEUE, () => queue.depth);

  const router = new Router();
  router.post('/jobs', (ctx) => {
    const body = (ctx.request.body ?? {}) as Partial<Record<keyof RunJob, unknown>>;
    for (const field of ['run_id', 'tenant_id', 'workflow_id'] as const) {
      const value = body[field];
      if (typeof value !== 'string' || value.length === 0 || value.length > 128) throw new HttpError(400, 'invalid_job', `${field} must be a string of 1–128 characters`, field);
    }
    if (!RUN_ID.test(body.run_id as string)) throw new HttpError(400, 'invalid_job', 'run_id must be a UUID', 'run_id');
    const job = body as RunJob;
    if (!queue.push(job.run_id, job, currentRequestId())) throw new HttpError(503, 'queue_full', `the ${QUEUE} queue holds ${config.maxQueued} jobs or is shutting down`);
    ctx.status = 202;
    ctx.body = { queued: job.run_id, depth: queue.depth };
  });

  // Required: without the runs service, outcomes are retried a few times and then lost (the runs stay queued there).
  const health = healthEndpoints({
    dependencies: [
      serviceDependency('runs', config.runsUrl, true),
      // Not required: the audit client buffers and retries while the audit API is away; runs go on.
      ...(config.auditUrl ? [serviceDependency('audit-api', config.auditUrl, false)] : []),
    ],
  });
  await serve('worker', serviceApp(log, { jsonLimit: '16kb', health, faults }, router), config, log, async () => {
    log.info('draining the queue', { depth: queue.depth });
    const left = await queue.drain(DRAIN_MS);
    if (left > 0) log.error('stopped with runs still queued: they stay queued in the runs service', { left });
    await audit.shutdown(5000);
  });
}

main(log, start);
