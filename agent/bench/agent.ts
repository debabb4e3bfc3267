// `npm run bench:agent`: what the Lookout agent costs a service, against the same app run plain and with
// upstream @opentelemetry/auto-instrumentations-node, and what each instrumented variant delivers for it.
//
// Four apps, each started three ways (plain, lookout, upstream):
//   repo     agent/bench/app.mjs: Koa + @koa/router + pg, logging through the agent's createLogger()
//   outside  agent/bench/outside-app/, copied to a temporary directory and installed there (npm ci): the
//            same routes with the app's own winston logger and no import of ours, as a user's service is
//   express  agent/bench/express-app.mjs: Express 5 and the app's own winston logger, /trivial only
//   pino     agent/bench/pino-app.cjs: the outside app's Koa with the app's own pino logger, /trivial only;
//            CommonJS, so that upstream instruments pino at all (see the file)
//   /trivial logs one line; /realistic runs one PostgreSQL query, one fetch to a local downstream service
//   and logs one line.
// Both instrumented variants export traces, metrics and logs over OTLP/gRPC to one local sink that counts
// what each delivered, with span and log queues large enough to drop nothing; upstream's winston records
// are bridged to its LoggerProvider (upstream-logs-bridge.mjs), so it delivers what it makes. Its pino
// records need no bridge (instrumentation-pino emits through @opentelemetry/api's logs global, which sdk-node
// sets), only a pino it can patch: the pino app is CommonJS. The report's "log records/req" shows them.
//
// Each run: spawn → first 200 (startup); then per route: warm-up (the JIT needs ~15 s in all before Koa is
// steady), a closed-loop window (16 connections, each sending when answered: throughput, latency, CPU per
// request), a paced window at a fixed rate every variant sustains (CPU per request at the same request
// rhythm: a slower app wakes the load generator for every response and pays more per request even plain,
// 35 µs at 24k req/s against 78 µs at 5.8k here), then a wait until the sink has everything the route's
// requests made, so delivery is counted per route; peak RSS; SIGTERM (both flush). Load comes from a
// separate process. Runs are interleaved within each round (repo plain, lookout, upstream, then the outside
// app's) because CPU speed here drifts up to 2x within minutes: ratios and differences are taken against
// the same app's plain run of the same round, then summarised over rounds (median, min–max).
//
// Knobs: BENCH_ROUNDS (5; at least 5 for a published figure), BENCH_WARMUP_S (15, split over the two
// routes), BENCH_DURATION_S (5, closed loop per route), BENCH_PACED_S (5 per route; 0 skips),
// BENCH_PACED_RPS (trivial,realistic rates: 1000,200), BENCH_CONCURRENCY (16), BENCH_APPS (repo,outside,express,pino),
// BENCH_VARIANTS (plain,lookout,upstream), BENCH_QUEUE_SIZE (span/log queue, 200000), BENCH_OUTSIDE_DIR
// (where the outside app is installed), BENCH_OUT (report path, .bench/agent.md; JSON beside it),
// DATABASE_URL.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort } from '@lookout/testkit';
import { NONE, QUIET_MS, minus, of, plus, settled } from './delivery.js';
import {
  AGENT_DIR,
  APP_NAMES,
  BATCH_DELAY_MS,
  REPO_DIR,
  ROUTES,
  VARIANT_NAMES,
  cpuMicros,
  exited,
  firstOk,
  listKnob,
  load,
  peakRssMiB,
  resolveApp,
  spawnVariant,
  startSupport,
  variant,
  type App,
  type Route,
  type Support,
  type Variant,
} from './harness.js';
import { benchMeta, render, type Run, type RouteRun, type Window } from './report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_S ?? 15) * 1000;
const DURATION_MS = Number(process.env.BENCH_DURATION_S ?? 5) * 1000;
const PACED_MS = Number(process.env.BENCH_PACED_S ?? 5) * 1000;
const PACED_RPS = pacedRates(process.env.BENCH_PACED_RPS ?? '1000,200');
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const APPS = listKnob('BENCH_APPS', APP_NAMES);
const VARIANTS = listKnob('BENCH_VARIANTS', VARIANT_NAMES);
const OUT = process.env.BENCH_OUT ?? join(REPO_DIR, '.bench/agent.md');

async function main(): Promise<void> {
  warnIfAgentStale();
  const apps = await Promise.all(APPS.map(resolveApp));
  const support = await startSupport();
  const meta = benchMeta({ rounds: ROUNDS, warmupMs: WARMUP_MS, durationMs: DURATION_MS, pacedMs: PACED_MS, pacedRps: PACED_RPS, concurrency: CONCURRENCY });
  console.error(`bench:agent: ${meta.settings}; estimated ${estimateMinutes(apps).toFixed(0)} min`);

  const runs: Run[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const app of apps) {
        for (const name of VARIANTS) {
          const run = await runOnce(round, app, variant(app.name, name, support.sinkPort), support);
          runs.push(run);
          console.error(progressLine(run));
        }
      }
    }
  } finally {
    support.stop();
  }

  const report = render(meta, runs);
  console.log(report);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report);
  writeFileSync(OUT.replace(/\.md$/, '') + '.json', JSON.stringify({ meta, runs }, null, 1));
  console.error(`bench:agent: report written to ${OUT}`);
}

async function runOnce(round: number, app: App, v: Variant, support: Support): Promise<Run> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = spawnVariant(app, v, { port, downstreamPort: support.downstreamPort });
  const instrumented = v.name !== 'plain';
  try {
    const startupMs = (await firstOk(`http://127.0.0.1:${port}/trivial`)) - spawnedAt;
    let before = await support.counts();
    const routes: Partial<Record<Route, RouteRun>> = {};
    let late = NONE;
    let peakRss = 0;
    let drainMs = 0;
    for (const route of app.routes) {
      const url = `http://127.0.0.1:${port}/${route}`;
      const warm = await load(url, WARMUP_MS / app.routes.length, CONCURRENCY);
      const closed = await measure(child.pid!, url, support, DURATION_MS);
      const paced = PACED_MS > 0 ? { ...(await measure(child.pid!, url, support, PACED_MS, PACED_RPS[route])), targetRps: PACED_RPS[route] } : undefined;
      let after = await support.counts();
      const last = route === app.routes[app.routes.length - 1];
      if (last) peakRss = peakRssMiB(child.pid!);
      if (instrumented) {
        // Everything this route's requests made reaches the sink before the next route starts, so what
        // the sink counted in between belongs to this route alone.
        const loadEnd = after;
        const drainStart = performance.now();
        if (last) child.kill('SIGTERM'); // both flush on SIGTERM; Lookout then exits, upstream stays up
        after = await settled(support, v, last ? { minMs: 0, exit: exited(child) } : { minMs: BATCH_DELAY_MS + 500 });
        late = plus(late, minus(of(after, v), of(loadEnd, v)));
        drainMs += performance.now() - drainStart;
      }
      const requests = warm.requests + closed.requests + (paced?.requests ?? 0);
      routes[route] = { closed, ...(paced ? { paced } : {}), requests, delivered: minus(of(after, v), of(before, v)) };
      before = after;
    }
    return { round, app: app.name, variant: v.name, id: v.id, startupMs, peakRssMiB: peakRss, routes, late, drainMs };
  } finally {
    child.kill('SIGKILL');
    await exited(child);
  }
}

/** One window of load: the app's CPU from /proc, the sink's CPU meanwhile, and what the load generator saw. */
async function measure(pid: number, url: string, support: Support, durationMs: number, rate?: number): Promise<Window> {
  const [cpuBefore, sinkBefore] = [cpuMicros(pid), (await support.counts()).cpuMs];
  const result = await load(url, durationMs, CONCURRENCY, rate ? { rate } : {});
  const [cpuAfter, sinkAfter] = [cpuMicros(pid), (await support.counts()).cpuMs];
  if (result.errors > 0) throw new Error(`${result.errors} failed requests on ${url}`);
  return {
    requests: result.requests,
    reqPerSec: result.requests / (durationMs / 1000),
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuUsPerReq: (cpuAfter - cpuBefore) / result.requests,
    sinkCpuUsPerReq: ((sinkAfter - sinkBefore) * 1000) / result.requests,
  };
}

function progressLine(run: Run): string {
  const route = (r: RouteRun) =>
    `${r.closed.reqPerSec.toFixed(0)} req/s ${r.closed.cpuUsPerReq.toFixed(0)} µs/req` +
    (r.paced ? ` (${r.paced.cpuUsPerReq.toFixed(0)} µs at ${r.paced.reqPerSec.toFixed(0)} req/s)` : '') +
    `, ${(r.delivered.traces / r.requests).toFixed(2)} spans + ${(r.delivered.logs / r.requests).toFixed(2)} logs/req`;
  return (
    `round ${run.round} ${run.id.padEnd(16)} startup ${run.startupMs.toFixed(0)} ms, rss ${run.peakRssMiB.toFixed(0)} MiB; ` +
    ROUTES.flatMap((r) => (run.routes[r] ? [`${r} ${route(run.routes[r])}`] : [])).join('; ') +
    `; waited ${(run.drainMs / 1000).toFixed(1)} s for the sink`
  );
}

/** Startup, warm-up and measured windows per run; for instrumented runs, the waits for the sink. */
function estimateMinutes(apps: App[]): number {
  const instrumented = VARIANTS.filter((v) => v !== 'plain').length;
  const perRound = apps.reduce((sum, app) => {
    const perRun = 1000 + WARMUP_MS + (DURATION_MS + PACED_MS + 200) * app.routes.length;
    const waits = (app.routes.length - 1) * (BATCH_DELAY_MS + 500 + QUIET_MS) + 2000;
    return sum + VARIANTS.length * perRun + instrumented * waits;
  }, 0);
  return (ROUNDS * perRound) / 60_000;
}

function pacedRates(value: string): Record<Route, number> {
  const rates = value.split(',').map(Number);
  if (rates.length !== ROUTES.length || rates.some((r) => !(r > 0))) {
    throw new Error(`BENCH_PACED_RPS=${value}: expected ${ROUTES.length} positive rates, for ${ROUTES.join(' and ')}`);
  }
  return Object.fromEntries(ROUTES.map((route, i) => [route, rates[i]!])) as Record<Route, number>;
}

/** The benchmark runs agent/dist: say so when agent/src has changed since it was built. */
function warnIfAgentStale(): void {
  const built = join(AGENT_DIR, 'dist/preload/register.js');
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build -w agent\` first`);
  const builtAt = statSync(built).mtimeMs;
  const newer = readdirSync(join(AGENT_DIR, 'src')).filter((f) => statSync(join(AGENT_DIR, 'src', f)).mtimeMs > builtAt);
  if (newer.length > 0) console.error(`bench:agent: warning: agent/src changed since dist was built (${newer.join(', ')}); run \`npm run build -w agent\` to measure it`);
}

await main();
