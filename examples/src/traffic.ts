// The traffic generator: drives the gateway at a steady rate and injects faults on request.
//   traffic run [--rps 5] [--duration 10m]                   steady load until stopped (or for --duration)
//   traffic inject errors [--service runs] [--ratio 0.5] [--for 10m]
//   traffic inject slow   [--service runs] [--delay 3s]  [--for 10m]
//   traffic inject clear  [--service runs]
//   traffic inject status [--service runs]
// Load is open-loop (requests start on schedule whether or not earlier ones answered), so a slow service
// shows up as latency rather than as a quietly lower request rate.
import { parseArgs } from 'node:util';
import { createLogger } from '@lookout/agent';
import { ConfigError, trafficConfig, type TrafficConfig } from './config.js';
import type { Logger } from './lib/logger.js';

const log = createLogger({ defaultMeta: { component: 'traffic' } });
const WORKFLOWS = ['nightly-report', 'invoice-sync', 'index-rebuild', 'user-export'];
const MAX_IN_FLIGHT = 200;
const REPORT_EVERY_MS = 10_000;

export function duration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) throw new ConfigError(`--${name} "${text}" must be a duration such as 500ms, 30s, 10m or 1h`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

async function run(config: TrafficConfig, rps: number, durationMs: number | undefined, logger: Logger): Promise<void> {
  const created: Array<{ id: string; key: string }> = [];
  const statuses = new Map<string, number>();
  const latencies: number[] = [];
  let inFlight = 0;
  let skipped = 0;
  let stopped = false;
  const stop = () => (stopped = true);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  const request = async (): Promise<void> => {
    const key = Math.random() < 0.01 ? 'not-a-key' : config.apiKeys[Math.floor(Math.random() * config.apiKeys.length)]!;
    const pick = Math.random();
    const known = created.filter((c) => c.key === key);
    const [method, path] =
      pick < 0.65 || known.length === 0
        ? ['POST', `/api/workflows/${WORKFLOWS[Math.floor(Math.random() * WORKFLOWS.length)]}/runs`]
        : pick < 0.95
          ? ['GET', `/api/runs/${known[Math.floor(Math.random() * known.length)]!.id}`]
          : ['GET', '/api/runs?limit=10'];
    const started = performance.now();
    let status = 'network_error';
    try {
      const res = await fetch(new URL(path, config.gatewayUrl), { method, headers: { 'x-api-key': key }, signal: AbortSignal.timeout(30_000) });
      status = String(res.status);
      const body = (await res.json().catch(() => undefined)) as { data?: { id?: string } } | undefined;
      if (method === 'POST' && res.status === 201 && body?.data?.id) {
        created.push({ id: body.data.id, key });
        if (created.length > 1000) created.shift();
      }
    } catch (err) {
      status = (err as Error).name === 'TimeoutError' ? 'timeout' : 'network_error';
    }
    latencies.push(performance.now() - started);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  };

  const report = () => {
    const sorted = latencies.splice(0).sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!) : undefined);
    logger.info('traffic report', { requests: sorted.length, by_status: Object.fromEntries(statuses), p50_ms: at(0.5), p99_ms: at(0.99), in_flight: inFlight, skipped });
    statuses.clear();
    skipped = 0;
  };

  logger.info('traffic started', { gateway: config.gatewayUrl.href, rps, duration_ms: durationMs });
  const startedAt = Date.now();
  const interval = 1000 / rps;
  let next = performance.now();
  let lastReport = Date.now();
  const pending = new Set<Promise<void>>();
  while (!stopped && (durationMs === undefined || Date.now() - startedAt < durationMs)) {
    if (inFlight >= MAX_IN_FLIGHT) skipped++;
    else {
      inFlight++;
      const p = request().finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    if (Date.now() - lastReport >= REPORT_EVERY_MS) {
      report();
      lastReport = Date.now();
    }
    next += interval;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  await Promise.allSettled(pending);
  report();
  logger.info('traffic stopped');
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
}

async function inject(config: TrafficConfig, kind: string, options: { service: string; ratio: string; delay: string; for: string }): Promise<void> {
  const base = config.serviceUrls[options.service];
  if (!base) throw new ConfigError(`--service "${options.service}" must be one of ${Object.keys(config.serviceUrls).join(', ')}`);
  const url = new URL('/admin/fault', base);
  const forSeconds = duration(options.for, 'for') / 1000;
  const requests: Record<string, RequestInit> = {
    errors: { method: 'PUT', body: JSON.stringify({ error_ratio: Number(options.ratio), duration_s: forSeconds }) },
    slow: { method: 'PUT', body: JSON.stringify({ delay_ms: duration(options.delay, 'delay'), duration_s: forSeconds }) },
    clear: { method: 'DELETE' },
    status: { method: 'GET' },
  };
  const init = requests[kind];
  if (!init) throw new ConfigError(`inject "${kind}": must be one of ${Object.keys(requests).join(', ')}`);
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  // The answer is the result the operator asked for: print it as is, one JSON line.
  const hint = res.status === 404 ? { hint: `fault injection is off on ${options.service}: start it with FAULT_INJECTION=true` } : {};
  process.stdout.write(`${JSON.stringify({ service: options.service, status: res.status, fault: JSON.parse(body) as unknown, ...hint })}\n`);
  if (!res.ok) process.exitCode = 1;
}

async function start(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      rps: { type: 'string' },
      duration: { type: 'string' },
      service: { type: 'string', default: 'runs' },
      ratio: { type: 'string', default: '0.5' },
      delay: { type: 'string', default: '3s' },
      for: { type: 'string', default: '10m' },
    },
  });
  const config = trafficConfig();
  const [command = 'run', kind = 'status'] = positionals;
  if (command === 'run') {
    const rps = values.rps === undefined ? config.ratePerSecond : Number(values.rps);
    if (!(rps > 0 && rps <= 1000)) throw new ConfigError(`--rps "${values.rps}" must be a number above 0 and at most 1000`);
    await run(config, rps, values.duration === undefined ? undefined : duration(values.duration, 'duration'), log);
  } else if (command === 'inject') {
    await inject(config, kind, { service: values.service, ratio: values.ratio, delay: values.delay, for: values.for });
  } else {
    throw new ConfigError(`unknown command "${command}": use run or inject (see the top of traffic.ts)`);
  }
}

start().catch((err: unknown) => {
  if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    log.error(`usage error: ${(err as Error).message}`);
    process.exitCode = 2;
  } else {
    log.error('traffic failed', { err });
    process.exitCode = 1;
  }
});
