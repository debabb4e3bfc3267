// Where a variant's CPU goes under load: `tsx bench/profile.ts <variant> [route] [--vs <baseline>]` (from agent/).
//   variant   plain | lookout | upstream | outside-plain | outside-lookout | outside-upstream | express-… | pino-…
//             (as in bench:agent)
//   route     trivial (default) | realistic (the in-repo and outside apps only)
//   --vs      profile a second variant the same way right after (say the same app's plain) and show what the
//             first adds to it, by package and by function, in µs per request
// Starts the variant as bench:agent does (same sink, downstream and settings) under `node --cpu-prof`,
// warms the route up, profiles a measured window of load, lets the app exit normally
// (BENCH_EXIT_AFTER_MS) so V8 writes the profile, then prints the process's CPU per thread (/proc), time by
// kind and by package, and the top functions by self and inclusive time, for the measured window only, as
// % of busy main-thread time and as µs per request. Our bundled agent/dist is source-mapped back to
// agent/src and to the upstream packages inside the bundle.
//
// Knobs: PROFILE_RATE (profile at this many req/s, paced, instead of closed loop: the same request rhythm
// for both sides of a --vs comparison; 0 = closed loop), PROFILE_WARMUP_S (15), PROFILE_DURATION_S (10),
// PROFILE_TOP (25), PROFILE_INTERVAL_US (sampling, 1000), PROFILE_DIR (.bench/profiles), PROFILE_LOAD_NICE
// (run the load generator niced, e.g. 10: fewer preemptions of the app at its socket writes; 0),
// BENCH_CONCURRENCY (16), and bench:agent's BENCH_QUEUE_SIZE.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { category, freePort, summarise, type CpuProfile, type Entry, type Summary } from '@lookout/testkit';
import {
  APP_NAMES,
  APP_ROUTES,
  BENCH_DIR,
  REPO_DIR,
  ROUTES,
  VARIANT_NAMES,
  cpuMicros,
  exited,
  firstOk,
  load,
  resolveApp,
  spawnVariant,
  startSupport,
  threadCpu,
  variant,
  variantId,
  within,
  type AppName,
  type Route,
  type Support,
  type ThreadCpu,
  type VariantName,
} from './harness.js';

const WARMUP_MS = Number(process.env.PROFILE_WARMUP_S ?? 15) * 1000;
const DURATION_MS = Number(process.env.PROFILE_DURATION_S ?? 10) * 1000;
const TOP = Number(process.env.PROFILE_TOP ?? 25);
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const LOAD_NICE = Number(process.env.PROFILE_LOAD_NICE ?? 0);
const RATE = Number(process.env.PROFILE_RATE ?? 0);
const PROFILE_DIR = process.env.PROFILE_DIR ?? join(REPO_DIR, '.bench/profiles');
/** The app exits this long after the load should have ended: room for a slow start. */
const EXIT_MARGIN_MS = 5000;

const ALL = APP_NAMES.flatMap((app) => VARIANT_NAMES.map((name) => ({ app, name, id: variantId(app, name) })));
type Picked = { app: AppName; name: VariantName; id: string };

interface Profiled {
  title: string;
  requests: number;
  /** From /proc over the same window: every thread, and no time spent waiting for a core. */
  processCpuUsPerReq: number;
  /** The same per thread name, µs per request. */
  threads: Map<string, ThreadCpu>;
  file: string;
  summary: Summary;
}

async function main(): Promise<void> {
  const { target, baseline, route } = parseArgs(process.argv.slice(2));
  const support = await startSupport();
  try {
    const profiled = await profileOne(target, route, support);
    console.log(renderOne(profiled));
    if (baseline) console.log('\n' + renderDiff(profiled, await profileOne(baseline, route, support)));
  } finally {
    support.stop();
  }
}

function parseArgs(args: string[]): { target: Picked; baseline: Picked | undefined; route: Route } {
  const vsAt = args.indexOf('--vs');
  const vs = vsAt >= 0 ? args.splice(vsAt, 2)[1] : undefined;
  const [id, route = 'trivial'] = args;
  const find = (name: string | undefined) => ALL.find((v) => v.id === name);
  const target = find(id);
  if (!target || !APP_ROUTES[target.app].includes(route as Route) || (vs !== undefined && !find(vs))) {
    const ids = ALL.map((v) => v.id).join('|');
    console.error(`usage: tsx bench/profile.ts <${ids}> [${ROUTES.join('|')}] [--vs <${ids}>]`);
    process.exit(2);
  }
  return { target, baseline: find(vs), route: route as Route };
}

async function profileOne(picked: Picked, route: Route, support: Support): Promise<Profiled> {
  const app = await resolveApp(picked.app);
  const v = variant(picked.app, picked.name, support.sinkPort);
  const dir = join(PROFILE_DIR, `${v.id}-${route}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawnVariant(app, v, {
    port,
    downstreamPort: support.downstreamPort,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${INTERVAL_US}`],
    env: { BENCH_EXIT_AFTER_MS: String(WARMUP_MS + DURATION_MS + EXIT_MARGIN_MS) },
  });
  const url = `http://127.0.0.1:${port}/${route}`;
  await firstOk(url);
  console.error(`profile: ${v.id} /${route}: ${WARMUP_MS / 1000} s warm-up, then ${DURATION_MS / 1000} s profiled${RATE ? ` at ${RATE} req/s` : ''}`);
  await load(url, WARMUP_MS, CONCURRENCY, { nice: LOAD_NICE });
  const [fromUs, cpuBefore, threadsBefore] = [nowUs(), cpuMicros(child.pid!), threadCpu(child.pid!)];
  const result = await load(url, DURATION_MS, CONCURRENCY, { nice: LOAD_NICE, rate: RATE });
  const [toUs, cpuAfter, threadsAfter] = [nowUs(), cpuMicros(child.pid!), threadCpu(child.pid!)];
  if (child.exitCode !== null) throw new Error('the app exited before the load ended: raise EXIT_MARGIN_MS');
  await within(exited(child), EXIT_MARGIN_MS + 10_000, 'the app did not exit after BENCH_EXIT_AFTER_MS');

  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}: did the app exit normally?`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  return {
    title: `${v.id} /${route}`,
    requests: result.requests,
    processCpuUsPerReq: (cpuAfter - cpuBefore) / result.requests,
    threads: perRequest(threadsBefore, threadsAfter, result.requests),
    file: join(dir, file),
    summary: summarise(profile, { fromUs, toUs, repoDir: REPO_DIR, appDirs: [BENCH_DIR, app.dir] }),
  };
}

function perRequest(before: Map<string, ThreadCpu>, after: Map<string, ThreadCpu>, requests: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const [name, a] of after) {
    const b = before.get(name) ?? { userUs: 0, sysUs: 0 };
    out.set(name, { userUs: (a.userUs - b.userUs) / requests, sysUs: (a.sysUs - b.sysUs) / requests });
  }
  return out;
}

/** "MainThread 80.1 (user 60.0 + system 20.1) · V8Worker 9.0 …", busiest first. */
function threadLine(threads: Map<string, ThreadCpu>): string {
  return [...threads]
    .map(([name, t]) => ({ name, ...t, total: t.userUs + t.sysUs }))
    .filter((t) => t.total >= 0.05)
    .sort((a, b) => b.total - a.total)
    .map((t) => `${t.name} ${t.total.toFixed(1)} (user ${t.userUs.toFixed(1)} + system ${t.sysUs.toFixed(1)})`)
    .join(' · ');
}

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const NOTE =
  'Percentages are of busy main-thread time; µs are per request; native code (V8 builtins, Node bindings and their ' +
  'system calls) is charged to its JS caller. The sampler counts wall time: while the thread waits for a core (2 cores ' +
  'shared with the load generator, the sink and PostgreSQL) the time lands on whatever ran, most often the socket write ' +
  "that wakes the load generator (writeUtf8String). Compare with the same app's plain variant (--vs).";

function renderOne(p: Profiled): string {
  const s = p.summary;
  const perReq = (us: number) => (us / p.requests).toFixed(1).padStart(7);
  const pct = (us: number) => `${((100 * us) / s.busyUs).toFixed(1)}%`.padStart(6);
  const lines = [
    `# profile: ${p.title}`,
    '',
    `${p.requests} requests in ${(s.windowUs / 1e6).toFixed(1)} s (${((p.requests * 1e6) / s.windowUs).toFixed(0)} req/s), ${s.samples} samples; ` +
      `main thread busy ${((100 * s.busyUs) / s.windowUs).toFixed(0)}% of the window = ${(s.busyUs / p.requests).toFixed(1)} µs per request ` +
      `(process CPU, all threads, from /proc: ${p.processCpuUsPerReq.toFixed(1)} µs per request).`,
    `Process CPU by thread, µs per request: ${threadLine(p.threads)}.`,
    NOTE,
    `Profile: ${p.file}`,
    '',
    `By kind: ${categories(s)
      .map(([name, us]) => `${name} ${pct(us).trim()} (${(us / p.requests).toFixed(1)} µs)`)
      .join(' · ')}`,
    '',
    '## Self time by package',
    '',
    '    %busy   µs/req  package',
    ...s.packages.slice(0, TOP).map((x) => `  ${pct(x.selfUs)}  ${perReq(x.selfUs)}  ${x.pkg}`),
  ];
  const table = (title: string, pick: (e: Entry) => number) => [
    '',
    `## Top ${TOP} functions by ${title}`,
    '',
    '    %busy   µs/req  function  (package)  location',
    ...[...s.functions]
      .sort((a, b) => pick(b) - pick(a))
      .slice(0, TOP)
      .map((e) => `  ${pct(pick(e))}  ${perReq(pick(e))}  ${e.frame.name}  (${e.frame.pkg})  ${e.frame.location}`),
  ];
  lines.push(...table('self time', (e) => e.selfUs), ...table('inclusive time', (e) => e.totalUs));
  return lines.join('\n');
}

/** What `p` adds to `base`, in µs of self time per request, by package and by function. */
function renderDiff(p: Profiled, base: Profiled): string {
  const [name, baseName] = [p.title.split(' ')[0]!, base.title.split(' ')[0]!];
  const [w, wBase] = [Math.max(7, name.length), Math.max(7, baseName.length)];
  const perReq = (x: Profiled, us: number | undefined) => ((us ?? 0) / x.requests).toFixed(1).padStart(x === p ? w : wBase);
  const diff = (a: number | undefined, b: number | undefined) => (a ?? 0) / p.requests - (b ?? 0) / base.requests;
  const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(1)}`.padStart(7);
  const busy = (x: Profiled) => x.summary.busyUs / x.requests;
  const lines = [
    `# ${p.title} against ${base.title}: what it adds, µs per request`,
    '',
    `Main thread busy: ${busy(p).toFixed(1)} against ${busy(base).toFixed(1)} µs per request (${signed(busy(p) - busy(base)).trim()}); ` +
      `process CPU from /proc: ${p.processCpuUsPerReq.toFixed(1)} against ${base.processCpuUsPerReq.toFixed(1)} (${signed(p.processCpuUsPerReq - base.processCpuUsPerReq).trim()}).`,
    `Process CPU by thread, µs per request: ${name}: ${threadLine(p.threads)}; ${baseName}: ${threadLine(base.threads)}.`,
    `Baseline profile: ${base.file}`,
    '',
    '## Self time by kind and by package',
    '',
    `  ${name.padStart(w)}  ${baseName.padStart(wBase)}    added  kind / package`,
  ];
  const catBase = new Map(categories(base.summary));
  for (const [kind, us] of categories(p.summary)) lines.push(`  ${perReq(p, us)}  ${perReq(base, catBase.get(kind))}  ${signed(diff(us, catBase.get(kind)))}  ${kind}`);
  lines.push('');
  const pkgBase = new Map(base.summary.packages.map((x) => [x.pkg, x.selfUs]));
  const pkgs = new Set([...p.summary.packages.map((x) => x.pkg), ...pkgBase.keys()]);
  const pkgMain = new Map(p.summary.packages.map((x) => [x.pkg, x.selfUs]));
  const byAdded = [...pkgs].map((pkg) => ({ pkg, added: diff(pkgMain.get(pkg), pkgBase.get(pkg)) })).sort((a, b) => b.added - a.added);
  for (const { pkg } of byAdded.slice(0, TOP)) lines.push(`  ${perReq(p, pkgMain.get(pkg))}  ${perReq(base, pkgBase.get(pkg))}  ${signed(diff(pkgMain.get(pkg), pkgBase.get(pkg)))}  ${pkg}`);

  const key = (e: Entry) => `${e.frame.name}\u0000${e.frame.location}`;
  const fnBase = new Map(base.summary.functions.map((e) => [key(e), e.selfUs]));
  const added = p.summary.functions.map((e) => ({ e, added: diff(e.selfUs, fnBase.get(key(e))) })).sort((a, b) => b.added - a.added);
  lines.push('', `## Top ${TOP} functions by added self time`, '', `    added  function  (package)  location`);
  for (const { e, added: us } of added.slice(0, TOP)) lines.push(`  ${signed(us)}  ${e.frame.name}  (${e.frame.pkg})  ${e.frame.location}`);
  return lines.join('\n');
}

function categories(s: Summary): Array<[string, number]> {
  const sums = new Map<string, number>();
  for (const p of s.packages) sums.set(category(p.pkg), (sums.get(category(p.pkg)) ?? 0) + p.selfUs);
  return [...sums].sort((a, b) => b[1] - a[1]);
}

await main();
