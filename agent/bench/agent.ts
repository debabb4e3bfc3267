// `npm run bench:agent`: the cost of the Lookout agent against the same app run plain and with upstream
// @opentelemetry/auto-instrumentations-node, all instrumented variants exporting to one local OTLP/gRPC
// sink. Rounds are interleaved (plain, lookout, upstream, plain, …) so CPU-speed drift hits all alike;
// each metric is reported as the median over rounds and as a ratio to plain within the same run.
//
// Knobs: BENCH_ROUNDS (5), BENCH_WARMUP_S (15), BENCH_DURATION_S (5), BENCH_CONCURRENCY (16),
// BENCH_OUT (markdown report path, default .bench/agent.md), DATABASE_URL.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const AGENT_DIR = dirname(HERE);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_S ?? 15) * 1000;
const DURATION_MS = Number(process.env.BENCH_DURATION_S ?? 5) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const OUT = process.env.BENCH_OUT ?? `${AGENT_DIR}/../.bench/agent.md`;
const CLK_TCK = 100; // /proc/<pid>/stat ticks per second on Linux x86_64

interface Variant {
  name: 'plain' | 'lookout' | 'upstream';
  args: string[];
  env: Record<string, string>;
}

interface RouteResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number;
}

interface RoundResult {
  /** Requests answered, warm-up included: the denominator for what reached the sink. */
  served: number;
  startupMs: number;
  peakRssMiB: number;
  trivial: RouteResult;
  realistic: RouteResult;
}

function variants(sinkPort: number): Variant[] {
  const otlp = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
    OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
    // Metrics every 10 s rather than 60 s, so their export is part of every measured window.
    OTEL_METRIC_EXPORT_INTERVAL: '10000',
  };
  return [
    { name: 'plain', args: [], env: {} },
    { name: 'lookout', args: ['--import', '@lookout/agent/register'], env: { ...otlp, OTEL_SERVICE_NAME: 'bench-lookout' } },
    {
      name: 'upstream',
      args: ['--import', '@opentelemetry/auto-instrumentations-node/register'],
      env: {
        ...otlp,
        OTEL_SERVICE_NAME: 'bench-upstream',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_LOGS_EXPORTER: 'otlp',
        // The same local detectors as Lookout; the default cloud detectors probe addresses off this machine.
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process,serviceinstance,container',
      },
    },
  ];
}

async function main(): Promise<void> {
  const sink = fork(`${HERE}/sink.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const sinkPort = await new Promise<number>((resolve) => sink.once('message', (m: { port: number }) => resolve(m.port)));
  const downstreamPort = await freePort();
  // execArgv: [] so it runs on plain node, not under this script's tsx loader.
  const downstream = fork(`${HERE}/downstream.mjs`, [], { env: { PORT: String(downstreamPort) }, execArgv: [] });
  await new Promise((resolve) => downstream.once('message', resolve));

  const all = variants(sinkPort);
  const results = new Map<string, RoundResult[]>(all.map((v) => [v.name, []]));
  console.error(`bench:agent: ${ROUNDS} rounds × ${all.length} variants, warm-up ${WARMUP_MS / 1000}s, ${DURATION_MS / 1000}s per route, ${CONCURRENCY} connections`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of all) {
      const result = await runOnce(variant, downstreamPort);
      results.get(variant.name)!.push(result);
      console.error(
        `round ${round} ${variant.name.padEnd(8)} startup ${result.startupMs.toFixed(0)} ms, rss ${result.peakRssMiB.toFixed(0)} MiB, ` +
          `trivial ${result.trivial.reqPerSec.toFixed(0)} req/s ${result.trivial.cpuUsPerReq.toFixed(0)} µs, ` +
          `realistic ${result.realistic.reqPerSec.toFixed(0)} req/s ${result.realistic.cpuUsPerReq.toFixed(0)} µs`,
      );
    }
  }
  const counts = await new Promise<SinkCounts>((resolve) => {
    sink.once('message', (m: SinkCounts) => resolve(m));
    sink.send('counts');
  });
  sink.disconnect();
  downstream.kill();

  const report = render(results, counts);
  console.log(report);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report);
  writeFileSync(OUT.replace(/\.md$/, '.json'), JSON.stringify({ results: Object.fromEntries(results), counts }, null, 1));
  console.error(`bench:agent: report written to ${OUT}`);
}

async function runOnce(variant: Variant, downstreamPort: number): Promise<RoundResult> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...variant.args, `${HERE}/app.mjs`], {
    cwd: AGENT_DIR,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATABASE_URL,
      DOWNSTREAM_URL: `http://127.0.0.1:${downstreamPort}`,
      ...variant.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const startupMs = (await firstOk(`http://127.0.0.1:${port}/trivial`)) - spawnedAt;
    // Warm both routes so the JIT reaches steady state before anything is measured.
    const warm = [await load(`http://127.0.0.1:${port}/trivial`, WARMUP_MS / 2), await load(`http://127.0.0.1:${port}/realistic`, WARMUP_MS / 2)];
    const trivial = await measure(child, `http://127.0.0.1:${port}/trivial`);
    const realistic = await measure(child, `http://127.0.0.1:${port}/realistic`);
    const served = warm[0]!.requests + warm[1]!.requests + ((trivial.reqPerSec + realistic.reqPerSec) * DURATION_MS) / 1000;
    // Let the last batches reach the sink before the process is killed.
    if (variant.name !== 'plain') await new Promise((r) => setTimeout(r, 6000));
    return { served, startupMs, peakRssMiB: peakRssKiB(child.pid!) / 1024, trivial, realistic };
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function measure(child: ChildProcess, url: string): Promise<RouteResult> {
  const cpuBefore = cpuTicks(child.pid!);
  const result = await load(url, DURATION_MS);
  const cpuAfter = cpuTicks(child.pid!);
  if (result.errors > 0) throw new Error(`${result.errors} failed requests on ${url}`);
  return {
    reqPerSec: result.requests / (DURATION_MS / 1000),
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuUsPerReq: (((cpuAfter - cpuBefore) / CLK_TCK) * 1e6) / result.requests,
  };
}

async function load(url: string, durationMs: number): Promise<{ requests: number; errors: number; p50Ms: number; p99Ms: number }> {
  const child = spawn(process.execPath, [`${HERE}/loadgen.mjs`, url, String(durationMs), String(CONCURRENCY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as { requests: number; errors: number; p50Ms: number; p99Ms: number };
}

/** Polls until the first 200; returns the time it arrived. */
async function firstOk(url: string): Promise<number> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now();
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`${url} never answered 200`);
}

function cpuTicks(pid: number): number {
  // Fields after the command name: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function peakRssKiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type SinkCounts = Record<string, { traces: number; metrics: number; logs: number }>;

function render(results: Map<string, RoundResult[]>, counts: SinkCounts): string {
  const rows: Array<[string, (r: RoundResult) => number, number]> = [
    ['trivial req/s', (r) => r.trivial.reqPerSec, 0],
    ['trivial p50 ms', (r) => r.trivial.p50Ms, 2],
    ['trivial p99 ms', (r) => r.trivial.p99Ms, 2],
    ['trivial CPU µs/req', (r) => r.trivial.cpuUsPerReq, 0],
    ['realistic req/s', (r) => r.realistic.reqPerSec, 0],
    ['realistic p50 ms', (r) => r.realistic.p50Ms, 2],
    ['realistic p99 ms', (r) => r.realistic.p99Ms, 2],
    ['realistic CPU µs/req', (r) => r.realistic.cpuUsPerReq, 0],
    ['startup ms (spawn → first 200)', (r) => r.startupMs, 0],
    ['peak RSS MiB', (r) => r.peakRssMiB, 0],
  ];
  const names = [...results.keys()];
  const plain = results.get('plain')!;
  const lines = [
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `${ROUNDS} interleaved rounds, ${WARMUP_MS / 1000}s warm-up, ${DURATION_MS / 1000}s per route, ${CONCURRENCY} connections. ` +
      'Values: medians over rounds; ratios and differences: taken within each round, then the median.',
    '',
    `| metric | ${names.join(' | ')} | ${names.filter((n) => n !== 'plain').map((n) => `${n} / plain`).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|${names.filter((n) => n !== 'plain').map(() => '---:').join('|')}|`,
  ];
  // Ratios and differences are taken within each round (the runs next to each other in time), then the
  // median over rounds: CPU speed here drifts by 2x over minutes, and this cancels it.
  const perRound = (n: string, f: (variant: RoundResult, base: RoundResult) => number) =>
    median(results.get(n)!.map((r, i) => f(r, plain[i]!)));
  for (const [label, pick, digits] of rows) {
    const cells = names.map((n) => median(results.get(n)!.map(pick)).toFixed(digits));
    const ratios = names.filter((n) => n !== 'plain').map((n) => `${perRound(n, (r, b) => pick(r) / pick(b)).toFixed(2)}x`);
    lines.push(`| ${label} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  const overhead = (n: string, route: 'trivial' | 'realistic') => perRound(n, (r, b) => r[route].cpuUsPerReq - b[route].cpuUsPerReq);
  const startupDelta = (n: string) => perRound(n, (r, b) => r.startupMs - b.startupMs);
  const rssDelta = (n: string) => perRound(n, (r, b) => r.peakRssMiB - b.peakRssMiB);
  lines.push(
    '',
    `CPU overhead per request (µs above plain): trivial lookout ${overhead('lookout', 'trivial').toFixed(0)} vs upstream ${overhead('upstream', 'trivial').toFixed(0)} ` +
      `(${(overhead('lookout', 'trivial') / overhead('upstream', 'trivial')).toFixed(2)} of upstream); realistic lookout ${overhead('lookout', 'realistic').toFixed(0)} vs upstream ${overhead('upstream', 'realistic').toFixed(0)} ` +
      `(${(overhead('lookout', 'realistic') / overhead('upstream', 'realistic')).toFixed(2)} of upstream).`,
    `Startup above plain: lookout +${startupDelta('lookout').toFixed(0)} ms, upstream +${startupDelta('upstream').toFixed(0)} ms. ` +
      `Peak RSS above plain: lookout +${rssDelta('lookout').toFixed(0)} MiB, upstream +${rssDelta('upstream').toFixed(0)} MiB.`,
  );
  for (const name of names.filter((n) => n !== 'plain')) {
    const served = results.get(name)!.reduce((sum, r) => sum + r.served, 0);
    const got = counts[`bench-${name}`] ?? { traces: 0, metrics: 0, logs: 0 };
    lines.push(
      `Delivered to the sink by ${name}: ${(got.traces / served).toFixed(2)} spans and ${(got.logs / served).toFixed(2)} log records per request served (${got.traces} spans, ${got.logs} log records, ${got.metrics} metric streams for ${Math.round(served)} requests).`,
    );
  }
  return lines.join('\n');
}

await main();
