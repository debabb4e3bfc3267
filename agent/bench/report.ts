// bench:agent's report: per app, medians and min–max over rounds; ratios and differences against the
// same app's plain run of the same round (CPU speed drifts between rounds); what each variant delivered;
// and the targets, met or not.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { PIN, REPO_DIR, ROUTES, type AppName, type Route, type Signals, type VariantName } from './harness.js';

/** One window of load on one route. */
export interface Window {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The app's user + system CPU (every thread) over the window, per request answered. */
  cpuUsPerReq: number;
  /** The sink's CPU over the window, per request: CPU the app did not get on a 2-core machine. */
  sinkCpuUsPerReq: number;
}

export interface RouteRun {
  /** Closed loop: each connection sends its next request when answered. */
  closed: Window;
  /** Paced at targetRps: the same request rhythm for every variant. */
  paced?: Window & { targetRps: number };
  /** Requests answered on this route, warm-up included: the denominator for what reached the sink. */
  requests: number;
  /** Spans, metric streams and log records the sink counted for this route, from its start until it had them all. */
  delivered: Signals;
}

export interface Run {
  round: number;
  app: AppName;
  variant: VariantName;
  id: string;
  startupMs: number;
  peakRssMiB: number;
  /** The routes the app serves (the Express and pino apps only the trivial one). */
  routes: Partial<Record<Route, RouteRun>>;
  /** Received after each route's load stopped: the last batches, or a backlog. */
  late: Signals;
  /** Time spent waiting for the sink after the loads. */
  drainMs: number;
}

export interface Meta {
  command: string;
  date: string;
  machine: string;
  node: string;
  commit: string;
  settings: string;
}

interface Settings {
  rounds: number;
  warmupMs: number;
  durationMs: number;
  pacedMs: number;
  pacedRps: Record<Route, number>;
  concurrency: number;
}

export function benchMeta(s: Settings): Meta {
  const knobs = Object.entries(process.env)
    .filter(([key]) => key.startsWith('BENCH_'))
    .map(([key, value]) => `${key}=${value}`);
  const paced = s.pacedMs > 0 ? `, then ${s.pacedMs / 1000} s paced at ${ROUTES.map((r) => `${s.pacedRps[r]}`).join(' and ')} req/s` : '';
  return {
    command: [...knobs, 'npm run bench:agent'].join(' '),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    commit: gitCommit(),
    settings:
      `${s.rounds} rounds, ${s.warmupMs / 1000} s warm-up (split over the routes), per route ${s.durationMs / 1000} s closed loop ` +
      `with ${s.concurrency} connections${paced}; ` +
      (PIN ? `app pinned to CPU ${cpus().length - 1}, sink and load generator on the others` : 'nothing pinned'),
  };
}

function gitCommit(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_DIR, encoding: 'utf8' }).trim();
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain') ? '+dirty' : '');
  } catch {
    return 'unknown';
  }
}

const APP_TITLES: Record<AppName, string> = {
  repo: 'In-repo app (agent/bench/app.mjs: logs through `createLogger()` from @lookout/agent)',
  outside: 'Outside app (agent/bench/outside-app/, installed outside the repository: its own winston logger, no import of ours)',
  express: 'Express app (agent/bench/express-app.mjs: Express 5, its own winston logger, no import of ours; trivial route only)',
  pino: 'pino app (agent/bench/pino-app.cjs: Koa, its own pino logger, no import of ours; trivial route only)',
};
export const APP_SHORT_TITLES: Record<AppName, string> = { repo: 'in-repo app', outside: 'outside app', express: 'Express app', pino: 'pino app' };

/** Median and range of a set of values; undefined when there are none. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread | undefined {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export function cell(s: Spread | undefined, digits: number, unit = ''): string {
  if (!s) return '—';
  const f = (n: number) => n.toFixed(digits);
  return f(s.min) === f(s.max) ? `${f(s.median)}${unit}` : `${f(s.median)}${unit} (${f(s.min)}–${f(s.max)})`;
}

export function signed(s: Spread | undefined, digits: number): string {
  if (!s) return '—';
  const f = (n: number) => (n >= 0 ? '+' : '') + n.toFixed(digits);
  return f(s.min) === f(s.max) ? f(s.median) : `${f(s.median)} (${f(s.min)}…${f(s.max)})`;
}

/** The runs of one app, with lookups by variant and by variant and round. */
class AppRuns {
  /** The routes these runs measured, in ROUTES order. */
  readonly routes: Route[];

  constructor(readonly runs: Run[]) {
    this.routes = ROUTES.filter((route) => runs.some((r) => r.routes[route] !== undefined));
  }

  variants(): VariantName[] {
    return [...new Set(this.runs.map((r) => r.variant))];
  }

  of(variant: VariantName): Run[] {
    return this.runs.filter((r) => r.variant === variant);
  }

  /** f(run, the plain run of the same round, the upstream run of the same round), over rounds. */
  paired(variant: VariantName, f: (run: Run, plain: Run, upstream: Run | undefined) => number): Spread | undefined {
    const values: number[] = [];
    for (const run of this.of(variant)) {
      const same = (v: VariantName) => this.runs.find((r) => r.variant === v && r.round === run.round);
      const plain = same('plain');
      if (plain) values.push(f(run, plain, same('upstream')));
    }
    return spread(values);
  }
}

type Pick = (r: Run) => number;

/** CPU per request: paced when the run has a paced window (the same rhythm for all), else closed loop. */
/** A route of a run that measured it (the report only asks for the routes an app's runs have). */
function at(r: Run, route: Route): RouteRun {
  const measured = r.routes[route];
  if (!measured) throw new Error(`${r.id} round ${r.round} did not measure /${route}`);
  return measured;
}

function cpu(route: Route): Pick {
  return (r) => (at(r, route).paced ?? at(r, route).closed).cpuUsPerReq;
}

function pacedLabel(runs: Run[], route: Route): string | undefined {
  const rate = runs.find((r) => r.routes[route]?.paced)?.routes[route]?.paced?.targetRps;
  return rate === undefined ? undefined : `at ${rate} req/s`;
}

function metricRows(runs: AppRuns): Array<[string, Pick, number]> {
  const rows = runs.routes.flatMap((route): Array<[string, Pick, number]> => {
    const paced = pacedLabel(runs.runs, route);
    return [
      [`${route} req/s`, (r) => at(r, route).closed.reqPerSec, 0],
      [`${route} p50 ms`, (r) => at(r, route).closed.p50Ms, 2],
      [`${route} p99 ms`, (r) => at(r, route).closed.p99Ms, 2],
      [`${route} CPU µs/req`, (r) => at(r, route).closed.cpuUsPerReq, 0],
      ...(paced
        ? ([
            [`${route} CPU µs/req ${paced}`, (r) => at(r, route).paced?.cpuUsPerReq ?? NaN, 0],
            [`${route} p50 ms ${paced}`, (r) => at(r, route).paced?.p50Ms ?? NaN, 2],
          ] as Array<[string, Pick, number]>)
        : []),
    ];
  });
  return [...rows, ['startup ms (spawn → first 200)', (r) => r.startupMs, 0], ['peak RSS MiB', (r) => r.peakRssMiB, 0]];
}

const cpuAbove = (route: Route) => (run: Run, plain: Run) => cpu(route)(run) - cpu(route)(plain);

/** CPU above plain per request, divided by the spans and log records it delivered per request. */
function cpuAbovePerItem(route: Route): (run: Run, plain: Run) => number {
  return (run, plain) => {
    const r = at(run, route);
    return cpuAbove(route)(run, plain) / ((r.delivered.traces + r.delivered.logs) / r.requests);
  };
}

function appSection(app: AppName, runs: AppRuns): string[] {
  const variants = runs.variants();
  const others = variants.filter((v) => v !== 'plain');
  const lines = [
    `## ${APP_TITLES[app]}`,
    '',
    'Median over rounds (min–max); ratios are taken within each round against plain, then summarised. Closed loop unless a rate is given.',
    '',
    `| metric | ${variants.join(' | ')} | ${others.map((n) => `${n} / plain`).join(' | ')} |`,
    `|---|${variants.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|`,
  ];
  for (const [label, pick, digits] of metricRows(runs)) {
    const values = variants.map((v) => cell(spread(runs.of(v).map(pick)), digits));
    const ratios = others.map((v) => cell(runs.paired(v, (r, p) => pick(r) / pick(p)), 2, 'x'));
    lines.push(`| ${label} | ${values.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  if (others.length > 0) lines.push('', ...aboveTable(runs, others), '', ...deliveredTable(runs, others));
  return lines;
}

function aboveTable(runs: AppRuns, others: VariantName[]): string[] {
  const hasBoth = others.includes('lookout') && others.includes('upstream');
  const lines = [
    `| above plain, within round | ${others.join(' | ')} |${hasBoth ? ' lookout / upstream |' : ''}`,
    `|---|${others.map(() => '---:').join('|')}|${hasBoth ? '---:|' : ''}`,
  ];
  const row = (label: string, f: (run: Run, plain: Run) => number, digits: number) => {
    const cells = others.map((v) => signed(runs.paired(v, f), digits));
    const vsUpstream = runs.paired('lookout', (r, p, u) => (u ? f(r, p) / f(u, p) : NaN));
    lines.push(`| ${label} | ${cells.join(' | ')} |${hasBoth ? ` ${cell(vsUpstream, 2)} |` : ''}`);
  };
  for (const route of runs.routes) {
    const paced = pacedLabel(runs.runs, route);
    row(`${route} CPU µs per request${paced ? ` ${paced}` : ''}`, cpuAbove(route), 0);
    if (paced) row(`${route} CPU µs per request, closed loop`, (r, p) => at(r, route).closed.cpuUsPerReq - at(p, route).closed.cpuUsPerReq, 0);
    row(`${route} CPU µs per delivered span or log record${paced ? ` ${paced}` : ''}`, cpuAbovePerItem(route), 1);
  }
  row('startup ms', (r, p) => r.startupMs - p.startupMs, 0);
  row('peak RSS MiB', (r, p) => r.peakRssMiB - p.peakRssMiB, 0);
  const missed = runs.runs.flatMap((r) =>
    runs.routes.filter((route) => {
      const paced = at(r, route).paced;
      return paced && paced.reqPerSec < 0.95 * paced.targetRps;
    }).map((route) => `${r.id} ${route} in round ${r.round} (${at(r, route).paced!.reqPerSec.toFixed(0)} req/s)`),
  );
  if (missed.length > 0) lines.push('', `**Paced rate not reached** (its CPU per request is then a closed-loop figure): ${missed.join('; ')}. Lower BENCH_PACED_RPS.`);
  return lines;
}

function deliveredTable(runs: AppRuns, variants: VariantName[]): string[] {
  const routes = runs.routes;
  const lines = [
    'Delivered to the sink per request answered on each route (every window, warm-up included; each route waits until the ' +
      'sink has all its telemetry), median (min–max) over rounds. "After load": spans and log records per run that arrived ' +
      "after a route's load had stopped (a few partial batches are normal; much more means a backlog, whose export CPU " +
      'fell outside the measured windows). "Sink CPU": what the counting sink used during the closed-loop windows, per ' +
      'request, on this 2-core machine.',
    '',
    `| variant | ${routes.map((r) => `${r} spans/req | ${r} log records/req`).join(' | ')} | after load | metric streams/run | sink CPU µs/req (${routes.join(', ')}) |`,
    `|---|${routes.map(() => '---:|---:').join('|')}|---:|---:|---:|`,
  ];
  for (const v of variants) {
    const rs = runs.of(v);
    const per = (route: Route, pick: (s: Signals) => number) => cell(spread(rs.map((r) => pick(at(r, route).delivered) / at(r, route).requests)), 2);
    const sum = (pick: (r: Run) => number) => cell(spread(rs.map(pick)), 0);
    const cells = [
      ...routes.flatMap((route) => [per(route, (s) => s.traces), per(route, (s) => s.logs)]),
      sum((r) => r.late.traces + r.late.logs),
      sum((r) => routes.reduce((total, route) => total + at(r, route).delivered.metrics, 0)),
      routes.map((route) => sum((r) => at(r, route).closed.sinkCpuUsPerReq)).join(', '),
    ];
    lines.push(`| ${v} | ${cells.join(' | ')} |`);
  }
  return lines;
}

interface Target {
  label: string;
  /** The app's figure (a within-round summary), its text, and whether it meets the target. */
  judge(runs: AppRuns): { text: string; met: boolean } | undefined;
}

function ratioTarget(route: Route, min: number): Target {
  return {
    label: `${route}: ≥ ${min}x plain req/s`,
    judge(runs) {
      if (!runs.routes.includes(route)) return undefined;
      const s = runs.paired('lookout', (r, p) => at(r, route).closed.reqPerSec / at(p, route).closed.reqPerSec);
      return s && { text: cell(s, 2, 'x'), met: s.median >= min };
    },
  };
}

function cpuTarget(route: Route): Target {
  return {
    label: `${route}: CPU above plain per request ≤ ½ of upstream's`,
    judge(runs) {
      if (!runs.routes.includes(route)) return undefined;
      const s = runs.paired('lookout', (r, p, u) => (u ? cpuAbove(route)(r, p) / cpuAbove(route)(u, p) : NaN));
      return s && { text: `${cell(s, 2)} of upstream's`, met: s.median <= 0.5 };
    },
  };
}

function deltaTarget(label: string, unit: string, max: number, pick: Pick): Target {
  return {
    label,
    judge(runs) {
      const s = runs.paired('lookout', (r, p) => pick(r) - pick(p));
      return s && { text: `${signed(s, 0)} ${unit}`, met: s.median <= max };
    },
  };
}

const TARGETS: Target[] = [
  ratioTarget('trivial', 0.6),
  ratioTarget('realistic', 0.8),
  ...ROUTES.map(cpuTarget),
  deltaTarget('startup ≤ +150 ms', 'ms', 150, (r) => r.startupMs),
  deltaTarget('peak RSS ≤ +50 MiB', 'MiB', 50, (r) => r.peakRssMiB),
];

function targetsSection(byApp: Map<AppName, AppRuns>): string[] {
  const apps = [...byApp.keys()];
  const lines = [
    '## Targets (lookout; medians of within-round figures; CPU at the paced rate when measured)',
    '',
    `| target | ${apps.map((a) => APP_SHORT_TITLES[a]).join(' | ')} |`,
    `|---|${apps.map(() => '---').join('|')}|`,
  ];
  for (const target of TARGETS) {
    const cells = apps.map((a) => {
      const verdict = target.judge(byApp.get(a)!);
      return verdict ? `${verdict.text}: **${verdict.met ? 'met' : 'not met'}**` : 'n/a';
    });
    lines.push(`| ${target.label} | ${cells.join(' | ')} |`);
  }
  return lines;
}

export function render(meta: Meta, runs: Run[]): string {
  const byApp = new Map<AppName, AppRuns>();
  for (const app of [...new Set(runs.map((r) => r.app))]) byApp.set(app, new AppRuns(runs.filter((r) => r.app === app)));
  const rounds = new Set(runs.map((r) => r.round)).size;
  const lines = [
    '# bench:agent',
    '',
    `\`${meta.command}\` — ${meta.date}; ${meta.machine}; Node ${meta.node}; ${meta.settings}; commit ${meta.commit}.`,
    '',
  ];
  if (rounds < 5) lines.push(`**${rounds} round${rounds === 1 ? '' : 's'} only: indicative, not a figure to publish (that takes at least 5).**`, '');
  for (const [app, appRuns] of byApp) lines.push(...appSection(app, appRuns), '');
  if (runs.some((r) => r.variant === 'lookout')) lines.push(...targetsSection(byApp), '');
  return lines.join('\n');
}
