// What bench:agent and the profiler share: the apps and their variants, the support processes (OTLP sink,
// downstream service), spawning a variant, HTTP load, and reading a process's CPU and memory.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@lookout/testkit';
import { prepareOutsideApp } from './outside-app.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const AGENT_DIR = dirname(BENCH_DIR);
export const REPO_DIR = dirname(AGENT_DIR);
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/**
 * Span and log-record queue for both instrumented variants (the SDK default is 2048): large enough that
 * neither drops anything under this load, so both deliver what they make and pay for exporting it.
 */
export const QUEUE_SIZE = Number(process.env.BENCH_QUEUE_SIZE ?? 200_000);
/** The SDK's default OTEL_BSP_SCHEDULE_DELAY, which both instrumented variants keep: a partial batch of spans waits this long. */
export const BATCH_DELAY_MS = 5000;
const CLK_TCK = 100; // /proc/<pid>/stat ticks per second on Linux x86_64

export type AppName = 'repo' | 'outside' | 'express' | 'pino';
export type VariantName = 'plain' | 'lookout' | 'upstream';
export const APP_NAMES: AppName[] = ['repo', 'outside', 'express', 'pino'];
export const VARIANT_NAMES: VariantName[] = ['plain', 'lookout', 'upstream'];
export const ROUTES = ['trivial', 'realistic'] as const;
export type Route = (typeof ROUTES)[number];
/**
 * The routes each app serves. The Express and pino apps differ from the outside app only in the framework
 * or the logger, which the trivial route shows alone; their realistic route would repeat the outside app's.
 */
export const APP_ROUTES: Record<AppName, readonly Route[]> = { repo: ROUTES, outside: ROUTES, express: ['trivial'], pino: ['trivial'] };
/** The in-repo apps' files, in agent/bench/ (the outside app is installed elsewhere). */
const IN_REPO: Record<Exclude<AppName, 'outside'>, string> = { repo: 'app.mjs', express: 'express-app.mjs', pino: 'pino-app.cjs' };

export interface App {
  name: AppName;
  /** Working directory and the app file (absolute). */
  dir: string;
  entry: string;
  routes: readonly Route[];
}

export interface Variant {
  app: AppName;
  name: VariantName;
  /** `lookout`, `outside-lookout`, …: the name used in reports, the profiler's argument and service.name. */
  id: string;
  serviceName: string;
  execArgv: string[];
  env: Record<string, string>;
}

/** An in-repo app, or the outside app (copied out of the repository and installed on first use). */
export async function resolveApp(name: AppName): Promise<App> {
  const routes = APP_ROUTES[name];
  if (name === 'outside') return { name, routes, ...prepareOutsideApp() };
  return { name, routes, dir: AGENT_DIR, entry: `${BENCH_DIR}/${IN_REPO[name]}` };
}

export function variantId(app: AppName, name: VariantName): string {
  return app === 'repo' ? name : `${app}-${name}`;
}

/**
 * How each variant is started. Both instrumented ones export traces, metrics and logs over OTLP/gRPC to
 * the sink with the same batch queues; preloads are given by absolute path so the outside app, which
 * cannot resolve our packages, starts them the same way.
 */
export function variant(app: AppName, name: VariantName, sinkPort: number): Variant {
  const id = variantId(app, name);
  const serviceName = `bench-${id}`;
  const otlp = {
    OTEL_SERVICE_NAME: serviceName,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
    OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
    // Metrics every 10 s rather than 60 s, so their export is part of every measured window.
    OTEL_METRIC_EXPORT_INTERVAL: '10000',
    OTEL_BSP_MAX_QUEUE_SIZE: String(QUEUE_SIZE),
    OTEL_BLRP_MAX_QUEUE_SIZE: String(QUEUE_SIZE),
  };
  return { app, name, id, serviceName, ...launch(name, otlp) };
}

function launch(name: VariantName, otlp: Record<string, string>): Pick<Variant, 'execArgv' | 'env'> {
  switch (name) {
    case 'plain':
      return { execArgv: [], env: {} };
    case 'lookout':
      return { execArgv: ['--import', `${AGENT_DIR}/dist/preload/register.js`], env: otlp };
    case 'upstream':
      return {
        execArgv: [
          '--import',
          `${REPO_DIR}/node_modules/@opentelemetry/auto-instrumentations-node/dist/register.mjs`,
          // After upstream's register: points the legacy logs global at its LoggerProvider (see the file).
          '--import',
          `${BENCH_DIR}/upstream-logs-bridge.mjs`,
        ],
        env: {
          ...otlp,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_LOGS_EXPORTER: 'otlp',
          // The same local detectors as Lookout; the default cloud detectors probe addresses off this machine.
          OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process,serviceinstance,container',
        },
      };
  }
}

/** Parses a comma list knob (`BENCH_APPS=outside`) against the allowed names; unset means all of them. */
export function listKnob<T extends string>(name: string, allowed: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...allowed];
  const picked = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = picked.filter((p) => !allowed.includes(p as T));
  if (unknown.length > 0) throw new Error(`${name}: unknown ${unknown.join(', ')}; expected a comma list of ${allowed.join(', ')}`);
  return allowed.filter((a) => picked.includes(a));
}

export type SinkCounts = Record<string, Signals>;
export interface Signals {
  traces: number;
  metrics: number;
  logs: number;
}

/** What the sink has counted so far, per service.name, and the sink's own CPU time. */
export interface Counts {
  byService: SinkCounts;
  cpuMs: number;
}

export interface Support {
  sinkPort: number;
  downstreamPort: number;
  counts(): Promise<Counts>;
  stop(): void;
}

/**
 * The app under test on a core of its own, everything else (this process, the sink, the downstream service,
 * the load generator: all children of this one) on the others, as "server on one core" measurements do.
 * Otherwise the sink's decoding and the load generator compete with the app, and more so for the variant
 * that sends more. BENCH_PIN=false turns it off; it needs two CPUs and taskset (util-linux).
 */
export const PIN = process.env.BENCH_PIN !== 'false' && cpus().length >= 2 && existsSync('/usr/bin/taskset');
const APP_CPU = cpus().length - 1;

/** Starts the OTLP sink and the downstream service every variant's realistic route calls. */
export async function startSupport(): Promise<Support> {
  // Before forking anything: children inherit the affinity.
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', `0-${APP_CPU - 1}`, String(process.pid)], { stdio: 'ignore' });
  const sink = fork(`${BENCH_DIR}/sink.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const sinkPort = await new Promise<number>((resolve) => sink.once('message', (m: { port: number }) => resolve(m.port)));
  const downstreamPort = await freePort();
  // execArgv: [] so it runs on plain node, not under this script's tsx loader.
  const downstream = fork(`${BENCH_DIR}/downstream.mjs`, [], { env: { PORT: String(downstreamPort) }, execArgv: [] });
  await new Promise((resolve) => downstream.once('message', resolve));
  return {
    sinkPort,
    downstreamPort,
    counts: () =>
      new Promise((resolve) => {
        sink.once('message', resolve);
        sink.send('counts');
      }),
    stop() {
      sink.disconnect();
      downstream.kill();
    },
  };
}

export interface SpawnOptions {
  port: number;
  downstreamPort: number;
  /** More node flags, before the variant's preloads (e.g. --cpu-prof). */
  nodeArgs?: string[];
  env?: Record<string, string>;
}

/** Starts one variant of one app; its stdout (a log line per request) goes nowhere, stderr to ours. */
export function spawnVariant(app: App, v: Variant, options: SpawnOptions): ChildProcess {
  const args = [...(options.nodeArgs ?? []), ...v.execArgv, app.entry];
  // taskset execs node in place: the child's pid is the app's, for /proc readings.
  const [command, argv] = PIN ? ['taskset', ['-c', String(APP_CPU), process.execPath, ...args]] : [process.execPath, args];
  return spawn(command, argv, {
    cwd: app.dir,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(options.port),
      DATABASE_URL,
      DOWNSTREAM_URL: `http://127.0.0.1:${options.downstreamPort}`,
      ...v.env,
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export interface LoadResult {
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LoadOptions {
  /** Paced at this many requests per second in all, instead of closed loop. */
  rate?: number;
  /** Run the load generator at this niceness (the profiler's option). */
  nice?: number;
}

/** HTTP load from a separate process (loadgen.mjs), so the load generator's CPU is not the app's. */
export async function load(url: string, durationMs: number, concurrency: number, options: LoadOptions = {}): Promise<LoadResult> {
  const args = [`${BENCH_DIR}/loadgen.mjs`, url, String(durationMs), String(concurrency), String(options.rate ?? 0)];
  const [command, argv] = options.nice ? ['nice', ['-n', String(options.nice), process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as LoadResult;
}

/** Polls until the first 200; returns the time (performance.now()) it arrived. */
export async function firstOk(url: string, timeoutMs = 30_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now();
    } catch {
      // not listening yet
    }
    await sleep(2);
  }
  throw new Error(`${url} never answered 200 within ${timeoutMs} ms`);
}

/** User + system CPU time of a live process (all its threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const { userUs, sysUs } = statCpu(`/proc/${pid}/stat`);
  return userUs + sysUs;
}

export interface ThreadCpu {
  userUs: number;
  sysUs: number;
}

/** CPU time per thread name (MainThread, V8Worker, libuv-worker, …), summed over threads of that name. */
export function threadCpu(pid: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const { userUs, sysUs } = statCpu(`/proc/${pid}/task/${tid}/stat`);
      const sum = out.get(name) ?? { userUs: 0, sysUs: 0 };
      out.set(name, { userUs: sum.userUs + userUs, sysUs: sum.sysUs + sysUs });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

function statCpu(file: string): ThreadCpu {
  // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks.
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userUs: (Number(fields[11]) / CLK_TCK) * 1e6, sysUs: (Number(fields[12]) / CLK_TCK) * 1e6 };
}

export function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The promise's value, or a rejection with `message` after `ms`; the timer does not outlive it. */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
