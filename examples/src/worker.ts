// The worker: takes runs from the runs service (POST /jobs, 202), works through them a few at a time
// (simulated steps, a small share failing as a business outcome) and reports each outcome back to the runs
// service. Exposes its queue depth and processing duration through the agent's service instruments.
import Router from '@koa/router';
import { createLogger, currentRequestId, serviceInstruments } from '@lookout/agent';
import { ConfigError, workerConfig } from './config.js';
import { serviceApp } from './lib/app.js';
import { callService } from './lib/call.js';
import { TENANT_HEADER } from './lib/caller.js';
import { HttpError } from './lib/errors.js';
import { FaultInjector } from './lib/fault.js';
import { main, serve } from './lib/serve.js';
import { JobQueue, type Job } from './job-queue.js';

const log = createLogger({ defaultMeta: { component: 'worker' } });
const QUEUE = 'workflow-runs';

interface RunJob {
  run_id: string;
  tenant_id: string;
  workflow_id: string;
}

async function start(): Promise<void> {
  const config = workerConfig();
  const instruments = serviceInstruments('worker');
  const faults = new FaultInjector('worker', log);

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
    const reply = await callService(config.runsUrl, 'POST', `/runs/${run_id}/result`, {
      headers: { [TENANT_HEADER]: tenant_id },
      body: { ...outcome, duration_ms },
    }).catch((err: HttpError) => ({ status: err.status, body: { error: { code: err.code, message: err.message } } }));
    if (reply.status !== 200) {
      // The run stays queued in the runs service; a real worker would retry or dead-letter it.
      log.error('run outcome not recorded', { run_id, status: reply.status, reply: reply.body });
      throw new Error(`runs service answered ${reply.status}`);
    }
    log.info('run finished', { run_id, workflow_id, tenant: tenant_id, outcome: outcome.status, duration_ms });
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
    const job = body as RunJob;
    if (!queue.push(job.run_id, job, currentRequestId())) throw new HttpError(503, 'queue_full', `the ${QUEUE} queue holds ${config.maxQueued} jobs or is shutting down`);
    ctx.status = 202;
    ctx.body = { queued: job.run_id, depth: queue.depth };
  });
  router.get('/health/ready', (ctx) => {
    ctx.body = { status: 'ready', depth: queue.depth };
  });

  await serve('worker', serviceApp(log, { jsonLimit: '16kb', faults }, router), config, log, async () => {
    log.info('draining the queue', { depth: queue.depth });
    await queue.drain();
  });
}

main(log, start, (err) => err instanceof ConfigError);
