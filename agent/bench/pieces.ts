// What each piece of the agent costs, and what each piece Lookout owns saves against its upstream
// counterpart: `npm run bench:pieces -w agent`. One app and route per comparison, every configuration
// interleaved round by round with plain, at a fixed request rate (the same rhythm for all), CPU per request
// from /proc, the app pinned to its own core as in bench:agent. Configurations are the agent with one piece
// switched: LOOKOUT_UPSTREAM_INSTRUMENTATIONS=<piece> (upstream's instrumentation instead of ours), or one
// signal's export off (what exporting it costs), or every exporter off (what is left is the instrumentation
// and the SDK's span, record and metric objects). Each instrumented run then ends with SIGTERM (the agent
// flushes, then exits), and the log records the sink received for it are counted per request served: a
// configuration that is cheaper because it delivers less shows as such.
//
// Knobs: PIECES_ROUNDS (5), PIECES_WARMUP_S (6), PIECES_DURATION_S (4), PIECES_ONLY (comma list of
// comparison names, default all), BENCH_CONCURRENCY (16), BENCH_PIN.
import { cpus } from 'node:os';
import { freePort } from '@lookout/testkit';
import { of } from './delivery.js';
import {
  load,
  firstOk,
  cpuMicros,
  exited,
  resolveApp,
  spawnVariant,
  startSupport,
  variant,
  within,
  type AppName,
  type Route,
  type Support,
} from './harness.js';
import { APP_SHORT_TITLES, cell, signed, spread } from './report.js';

const ROUNDS = Number(process.env.PIECES_ROUNDS ?? 5);
const WARMUP_MS = Number(process.env.PIECES_WARMUP_S ?? 6) * 1000;
const DURATION_MS = Number(process.env.PIECES_DURATION_S ?? 4) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ONLY = process.env.PIECES_ONLY?.split(',').map((s) => s.trim());

interface Comparison {
  name: string;
  app: AppName;
  route: Route;
  rate: number;
  /** Configurations of the lookout variant, by label: extra environment. */
  configs: Record<string, Record<string, string>>;
}

const NO_EXPORT = { OTEL_TRACES_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' };
const upstream = (piece: string) => ({ LOOKOUT_UPSTREAM_INSTRUMENTATIONS: piece });

const COMPARISONS: Comparison[] = [
  {
    name: 'server',
    app: 'repo',
    route: 'trivial',
    rate: 1000,
    configs: {
      'upstream http (server and client)': upstream('http'),
      'logs not exported': { OTEL_LOGS_EXPORTER: 'none' },
      'spans not exported': { OTEL_TRACES_EXPORTER: 'none' },
      'nothing exported': NO_EXPORT,
      'nothing exported, no http/koa instrumentation': { ...NO_EXPORT, OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http,koa' },
    },
  },
  {
    name: 'clients',
    app: 'repo',
    route: 'realistic',
    rate: 200,
    configs: { 'upstream undici (fetch)': upstream('undici'), 'upstream pg': upstream('pg') },
  },
  {
    name: 'winston',
    app: 'outside',
    route: 'trivial',
    rate: 1000,
    configs: { 'upstream winston': upstream('winston'), 'logs not exported': { OTEL_LOGS_EXPORTER: 'none' } },
  },
  {
    // Ours or upstream's instrumentation-pino as the default (docs/benchmarks.md, "pino"). Upstream's also
    // runs our redaction of the line (instrumentations.ts), so both sides do the same work.
    name: 'pino',
    app: 'pino',
    route: 'trivial',
    rate: 1000,
    configs: { 'upstream pino': upstream('pino'), 'logs not exported': { OTEL_LOGS_EXPORTER: 'none' } },
  },
];

async function main(): Promise<void> {
  const support = await startSupport();
  const comparisons = COMPARISONS.filter((c) => !ONLY || ONLY.includes(c.name));
  console.error(`bench:pieces: ${comparisons.map((c) => c.name).join(', ')}; ${ROUNDS} rounds, ${WARMUP_MS / 1000} s warm-up, ${DURATION_MS / 1000} s measured per run`);
  const out = [
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${ROUNDS} interleaved rounds, ${WARMUP_MS / 1000} s closed-loop warm-up, ` +
      `${DURATION_MS / 1000} s measured at a fixed rate per run. CPU µs per request above plain, median (min–max) of within-round differences.`,
  ];
  try {
    for (const comparison of comparisons) out.push('', await compare(comparison, support));
  } finally {
    support.stop();
  }
  console.log(out.join('\n'));
}

async function compare(c: Comparison, support: Support): Promise<string> {
  const app = await resolveApp(c.app);
  const plain = variant(c.app, 'plain', support.sinkPort);
  const lookout = variant(c.app, 'lookout', support.sinkPort);
  const runs: Array<[string, typeof lookout, Record<string, string>]> = [
    ['plain', plain, {}],
    ['lookout (all ours)', lookout, {}],
    ...Object.entries(c.configs).map(([label, env]) => [label, lookout, env] as [string, typeof lookout, Record<string, string>]),
  ];
  const cpu = new Map<string, number[]>(runs.map(([label]) => [label, []]));
  const delivered = new Map<string, number[]>(runs.map(([label]) => [label, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [label, v, env] of runs) {
      const port = await freePort();
      const logsBefore = of(await support.counts(), v).logs;
      const child = spawnVariant(app, v, { port, downstreamPort: support.downstreamPort, env });
      try {
        const url = `http://127.0.0.1:${port}/${c.route}`;
        await firstOk(url);
        const warm = await load(url, WARMUP_MS, CONCURRENCY);
        const before = cpuMicros(child.pid!);
        const result = await load(url, DURATION_MS, CONCURRENCY, { rate: c.rate });
        if (result.errors > 0) throw new Error(`${result.errors} failed requests for ${label}`);
        const perRequest = (cpuMicros(child.pid!) - before) / result.requests;
        cpu.get(label)!.push(perRequest);
        let records = '';
        if (v.name !== 'plain') {
          child.kill('SIGTERM');
          await within(exited(child), 30_000, `${label} did not exit after SIGTERM`);
          // Every request served: the first 200, the warm-up and the measured window.
          const perServed = (of(await support.counts(), v).logs - logsBefore) / (1 + warm.requests + result.requests);
          delivered.get(label)!.push(perServed);
          records = `, ${perServed.toFixed(2)} log records/req delivered`;
        }
        console.error(`${c.name} round ${round} ${label}: ${perRequest.toFixed(1)} µs/req${records}`);
      } finally {
        child.kill('SIGKILL');
        await exited(child);
      }
    }
  }
  const base = cpu.get('plain')!;
  const lines = [
    `**${c.name}**: ${APP_SHORT_TITLES[c.app]}, \`/${c.route}\` at ${c.rate} req/s (plain: ${cell(spread(base), 0)} µs per request)`,
    '',
    '| configuration | CPU µs/req above plain | against all ours | log records delivered per request |',
    '|---|---:|---:|---:|',
  ];
  const ours = cpu.get('lookout (all ours)')!.map((x, i) => x - base[i]!);
  for (const [label] of runs.slice(1)) {
    const above = cpu.get(label)!.map((x, i) => x - base[i]!);
    const delta = label === 'lookout (all ours)' ? '' : signed(spread(above.map((x, i) => x - ours[i]!)), 0);
    lines.push(`| ${label} | ${cell(spread(above), 0)} | ${delta} | ${cell(spread(delivered.get(label)!), 2)} |`);
  }
  return lines.join('\n');
}

await main();
