// npm run bench:audit — the audit API against the PostgreSQL it runs on, every target as a ratio taken within
// one run (this machine's speed swings 2x), variants interleaved, BENCH_AUDIT_ROUNDS rounds, medians (min–max):
//   1. ingest: raw COPY (the ceiling) against the batch endpoint end to end, with sealing off and on;
//   2. pages: filtered cursor pages, first and deep, at BENCH_AUDIT_ROWS (10M) events of the queried tenant
//      (+ as many of others) against BENCH_AUDIT_SMALL_ROWS (100k), request by request, and the endpoint
//      against the same keyset query run directly in SQL;
//   3. stream: write-to-delivery latency at 1,000 subscribers against 100;
//   4. verify: a month of 1M sealed events verified, against reading the same rows with COPY.
// The page and verify data sets are generated in SQL into databases of their own and kept between runs
// (bench/dataset.ts). Knobs: BENCH_AUDIT_ROUNDS (5), BENCH_AUDIT_INGEST_ROWS (100000), BENCH_AUDIT_ROWS
// (10000000), BENCH_AUDIT_SMALL_ROWS (100000), BENCH_AUDIT_PAGE_REQUESTS (1000), BENCH_AUDIT_SUBSCRIBERS
// (100,1000), BENCH_AUDIT_SUBSCRIBER_THREADS (2), BENCH_AUDIT_STREAM_EVENTS (600), BENCH_AUDIT_VERIFY_ROWS (1000000), BENCH_AUDIT_SEALING
// (auto: on when this build has it; off), BENCH_AUDIT_ONLY (ingest,pages,stream,verify), LOOKOUT_TEST_DATABASE_URL,
// BENCH_AUDIT_PROFILE=1 (CPU profile of each measured ingest variant and stream run: bench/profiler.ts).
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import type { Knex } from 'knex';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { BATCH_PATH, createLogger } from '@lookout/agent';
import { createTestDatabase, JWT_SECRET, token } from '@lookout/testkit';
import { loadConfig, type AuditConfig } from '../src/config.js';
import { startService, type AuditService } from '../src/service.js';
import { CursorCodec } from '../src/store/cursor.js';
import { applyFilters } from '../src/store/events.js';
import { monthStart, addMonths } from '../src/store/partitions.js';
import { describeFilters, parseFilters } from '../src/domain/filters.js';
import { ensureDataset, TENANT, type Dataset } from './dataset.js';
import { bodies } from './events.js';
import { profiled } from './profiler.js';

const env = process.env;
const ROUNDS = Number(env.BENCH_AUDIT_ROUNDS ?? 5);
const INGEST_ROWS = Number(env.BENCH_AUDIT_INGEST_ROWS ?? 100_000);
const BIG_ROWS = Number(env.BENCH_AUDIT_ROWS ?? 10_000_000);
const SMALL_ROWS = Number(env.BENCH_AUDIT_SMALL_ROWS ?? 100_000);
const PAGE_REQUESTS = Number(env.BENCH_AUDIT_PAGE_REQUESTS ?? 1000);
const PAGE_WARMUP = 30;
const SUBSCRIBERS = (env.BENCH_AUDIT_SUBSCRIBERS ?? '100,1000').split(',').map(Number) as [number, number];
const SUBSCRIBER_THREADS = Number(env.BENCH_AUDIT_SUBSCRIBER_THREADS ?? 2);
const STREAM_EVENTS = Number(env.BENCH_AUDIT_STREAM_EVENTS ?? 600);
const VERIFY_ROWS = Number(env.BENCH_AUDIT_VERIFY_ROWS ?? 1_000_000);
const ONLY = new Set((env.BENCH_AUDIT_ONLY ?? 'ingest,pages,stream,verify').split(','));
const BATCH = 1000;
const WARMUP_ROWS = 5000;
const CONCURRENCY = 4;
const IP_KEY = 'bench-ip-hmac-key-0123456789';
const source = (path: string) => (existsSync(new URL(path, import.meta.url)) ? readFileSync(new URL(path, import.meta.url), 'utf8') : '');
// Sealing is on when this build has it (the config reads the key and the service runs the sealer); BENCH_AUDIT_SEALING=off measures without.
const SEALING = env.BENCH_AUDIT_SEALING === 'off' ? false : env.BENCH_AUDIT_SEALING === 'on' || (source('../src/config.ts').includes('LOOKOUT_AUDIT_SIGNING_KEY') && source('../src/service.ts').includes('Sealer'));
const SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

// ---- statistics: no spread over large arrays (Math.max(...lags) overflowed the stack at 200,000 values)

const sorted = (values: number[]) => Float64Array.from(values).sort();
const quantile = (values: number[], q: number) => {
  const s = sorted(values);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (values: number[]) => {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const maxOf = (values: number[]) => values.reduce((m, v) => (v > m ? v : m), -Infinity);
const minOf = (values: number[]) => values.reduce((m, v) => (v < m ? v : m), Infinity);
/** "median (min–max)" of per-round values. */
const spread = (values: number[], digits = 2, unit = '') => `${median(values).toFixed(digits)}${unit} (${minOf(values).toFixed(digits)}–${maxOf(values).toFixed(digits)})`;
const ratio = (values: number[]) => spread(values, 2, 'x');

interface Target {
  name: string;
  measured: string;
  met: boolean | undefined;
}
const targets: Target[] = [];
const sections: string[] = [];
const log = (line: string) => console.error(line);

// ---- the service and the synthetic events

async function start(url: string, sealing = false, signingKey = SIGNING_KEY): Promise<AuditService> {
  // Warnings (a failing sealer, a stream read) go to stderr: a stalled measurement should say why.
  const service = await startService(benchConfig(url, sealing, signingKey), createLogger({ stream: process.stderr, level: 'warn' }));
  await service.ready;
  return service;
}

function benchConfig(url: string, sealing: boolean, signingKey = SIGNING_KEY): AuditConfig {
  return loadConfig({
    DATABASE_URL: url,
    PORT: '0',
    LOOKOUT_AUDIT_HOST: '127.0.0.1',
    LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET,
    LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY,
    LOOKOUT_AUDIT_RATE_LIMIT_RPS: '1000000',
    LOOKOUT_AUDIT_RATE_LIMIT_BURST: '1000000',
    // The kept data sets must not age out between runs.
    LOOKOUT_AUDIT_RETENTION_DAYS: '36500',
    LOOKOUT_AUDIT_DB_POOL_MAX: '10',
    ...(sealing ? { LOOKOUT_AUDIT_SIGNING_KEY: signingKey, LOOKOUT_AUDIT_DIGEST_INTERVAL_MS: '1000' } : {}),
  });
}

function copyLine(tenant: string, e: Record<string, any>): string {
  const esc = (v: unknown) => (v === undefined || v === null ? '\\N' : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n'));
  return [tenant, e.id, e.occurred_at, e.action, e.status, e.actor.type, e.actor.id, e.actor.display, e.object.type, e.object.id, e.request_id, e.trace_id, 'deadbeef', 'bench', JSON.stringify(e.metadata)].map(esc).join('\t') + '\n';
}

const COPY_SQL = `copy activity_events (tenant_id, id, occurred_at, action, status, actor_type, actor_id, actor_display, object_type, object_id, request_id, trace_id, ip_hash, user_agent, metadata) from stdin`;

async function copyRows(url: string, tenant: string, events: Record<string, unknown>[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const start = performance.now();
    const stream = client.query(copyStreams.from(COPY_SQL));
    await pipeline(Readable.from((function* () {
      for (let i = 0; i < events.length; i += BATCH) yield events.slice(i, i + BATCH).map((e) => copyLine(tenant, e)).join('');
    })()), stream);
    return events.length / ((performance.now() - start) / 1000);
  } finally {
    await client.end();
  }
}

/**
 * Posts `count` synthetic events (from `start`) in batches from a worker thread, as other processes would in
 * production: the load generator's JSON and HTTP client work stays off the event loop being measured (it took
 * about a tenth of it). Resolves with rows/s as the worker measured them.
 */
function postBatches(base: string, jwt: string, count: number, start: number, minimal: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./poster.ts', import.meta.url), { workerData: { base, jwt, count, start, batch: BATCH, concurrency: CONCURRENCY, path: BATCH_PATH, minimal } });
    worker.once('message', (rate: number) => resolve(rate));
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`the posting worker exited with ${code}`)));
  });
}

/** Waits until the sealer has sealed `count` events of `tenant`; resolves with the time (performance.now()) it saw them. */
async function sealedAll(knex: Knex, tenant: string, count: number, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await knex.raw<{ rows: { position: string | null }[] }>(`select max(position)::text as position from activity_seal_heads where tenant_id = ?`, [tenant]);
    if (Number(rows[0]?.position ?? 0) >= count) return performance.now();
    if (Date.now() > deadline) throw new Error(`the sealer sealed ${rows[0]?.position ?? 0} of ${count} events in ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- 1. ingest

async function ingest(): Promise<void> {
  const jwt = await token({ tenant: 'bench', scope: 'activity:write', expiresIn: '6h' });
  const copy: number[] = [];
  const plain: number[] = [];
  const sealedAck: number[] = [];
  const sealedEnd: number[] = [];
  const sealedFull: number[] = [];
  // The batch endpoint as the agent's audit client calls it (Prefer: return=minimal), and, with sealing, also
  // with the full answer (every stored event) a client gets that does not send the preference.
  const variants = ['copy', 'api', ...(SEALING ? ['api+sealing', 'api+sealing, full answer'] : [])];
  for (let round = 0; round < ROUNDS; round++) {
    const rows = bodies(INGEST_ROWS, round * INGEST_ROWS);
    const first = round * INGEST_ROWS;
    const line: string[] = [];
    // Each variant into a fresh database; the order rotates so none always runs first.
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(round + k) % variants.length]!;
      const db = await createTestDatabase('lookout_bench_ingest');
      const service = await start(db.url, variant.startsWith('api+sealing'));
      try {
        // Warm-up (JIT, pool, partitions) for every variant, so each measures into the same 5,000 rows.
        await postBatches(service.url, jwt, WARMUP_ROWS, 10_000_000 + round * WARMUP_ROWS, true);
        if (variant.startsWith('api+sealing')) await sealedAll(service.knex, 'bench', WARMUP_ROWS);
        if (variant === 'copy') {
          copy.push(await copyRows(db.url, 'bench', rows));
          line.push(`COPY ${copy.at(-1)!.toFixed(0)}`);
        } else if (variant === 'api') {
          plain.push(await profiled(`ingest-api-${round + 1}`, () => postBatches(service.url, jwt, INGEST_ROWS, first, true)));
          line.push(`API ${plain.at(-1)!.toFixed(0)}`);
        } else if (variant === 'api+sealing') {
          const t0 = performance.now();
          await profiled(`ingest-api-sealing-${round + 1}`, async () => {
            sealedAck.push(await postBatches(service.url, jwt, INGEST_ROWS, first, true));
            sealedEnd.push(INGEST_ROWS / (((await sealedAll(service.knex, 'bench', WARMUP_ROWS + INGEST_ROWS)) - t0) / 1000));
          });
          line.push(`API+sealing ${sealedAck.at(-1)!.toFixed(0)} (all sealed: ${sealedEnd.at(-1)!.toFixed(0)})`);
        } else {
          sealedFull.push(await profiled(`ingest-api-sealing-full-${round + 1}`, () => postBatches(service.url, jwt, INGEST_ROWS, first, false)));
          line.push(`API+sealing, full answer ${sealedFull.at(-1)!.toFixed(0)}`);
        }
      } finally {
        await service.stop();
        await db.drop();
      }
    }
    log(`ingest round ${round + 1}: ${line.join(', ')} rows/s`);
  }
  const of = (values: number[]) => values.map((v, i) => v / copy[i]!);
  const rows = [
    `| raw COPY (ceiling) | ${spread(copy, 0)} | 1 |`,
    `| POST /api/v1/activity/batch, sealing off | ${spread(plain, 0)} | ${ratio(of(plain))} |`,
    ...(SEALING
      ? [
          `| POST /api/v1/activity/batch, sealing on (acknowledged) | ${spread(sealedAck, 0)} | ${ratio(of(sealedAck))} |`,
          `| the same, until the sealer has sealed every row | ${spread(sealedEnd, 0)} | ${ratio(of(sealedEnd))} |`,
          `| sealing on, without Prefer: return=minimal (the answer lists every stored event) | ${spread(sealedFull, 0)} | ${ratio(of(sealedFull))} |`,
        ]
      : []),
  ];
  sections.push(
    [
      `**Ingest** (${INGEST_ROWS} rows per round, ${ROUNDS} rounds, each variant into a fresh database, order rotated; batch endpoint: ${BATCH} events per request, ${CONCURRENCY} in flight, with \`Prefer: return=minimal\` as the agent's audit client sends it unless said otherwise${SEALING ? '; sealing: Ed25519 key made with node:crypto, digests every 1 s' : '; sealing not in this build, measured without'}):`,
      '',
      '| path | rows/s, median (min–max) | of COPY, per round |',
      '|---|---:|---:|',
      ...rows,
    ].join('\n'),
  );
  const measured = SEALING ? of(sealedAck) : of(plain);
  targets.push({ name: `ingest ≥ 0.6x raw COPY${SEALING ? ' with sealing on' : ' (sealing not built yet: measured without)'}, as the agent sends batches`, measured: ratio(measured), met: SEALING ? median(measured) >= 0.6 : undefined });
}

// ---- 2. pages

interface PageCase {
  name: string;
  query: (anchor: Date) => string;
}

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** Every filter the list accepts, alone, and three together. Values hit rows the generator made (bench/dataset.ts). */
const PAGE_CASES: PageCase[] = [
  { name: 'no filter', query: () => '' },
  { name: 'action', query: () => 'action=storage.file.uploaded' },
  { name: 'action prefix auth.*', query: () => 'action=auth.*' },
  { name: 'actor_id', query: () => 'actor_id=user-42' },
  { name: 'object_type + object_id', query: () => 'object_type=file&object_id=file-42' },
  { name: 'status=failure', query: () => 'status=failure' },
  { name: 'time window (1 day)', query: (a) => `from=${iso(a.getTime() - 30 * DAY)}&to=${iso(a.getTime() - 29 * DAY)}` },
  { name: 'request_id', query: () => 'request_id=req-4242' },
  { name: 'trace_id', query: () => `trace_id=${createHash('md5').update(`trace:${TENANT}4242`).digest('hex')}` },
  { name: 'action + actor_id + 90 days', query: (a) => `action=storage.file.uploaded&actor_id=user-40&from=${iso(a.getTime() - 180 * DAY)}&to=${iso(a.getTime() - 90 * DAY)}` },
];

interface PagePlan {
  http: string;
  sql: { text: string; values: unknown[] };
}

/** The URL of a page and the exact SQL the endpoint ran for it (captured from knex), or undefined for a deep page of a result too small to have one. */
async function pagePlan(service: AuditService, config: AuditConfig, jwt: string, anchor: Date, c: PageCase, deep: boolean): Promise<PagePlan | undefined> {
  const query = c.query(anchor);
  const filters = parseFilters(Object.fromEntries(new URLSearchParams(query)));
  let cursor: string | undefined;
  if (deep) {
    // The middle of this filter's result, read straight from the table.
    const counted = service.knex('activity_events').where('tenant_id', TENANT).count<{ count: string }[]>('* as count');
    applyFilters(counted, filters);
    const total = Number((await counted)[0]!.count);
    if (total < 2) return undefined;
    const middle = service.knex('activity_events')
      .select(service.knex.raw(`to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as t`), 'id')
      .where('tenant_id', TENANT)
      .orderBy([{ column: 'activity_events.occurred_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .offset(Math.floor(total / 2))
      .limit(1);
    applyFilters(middle, filters);
    const [row] = (await middle) as { t: string; id: string }[];
    cursor = new CursorCodec(config.cursorKey).encode({ occurredAt: row!.t, id: row!.id }, TENANT, describeFilters(filters));
  }
  const http = `${service.url}/api/v1/activity?limit=50${query ? `&${query}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  let captured: { sql: string; bindings: unknown[] } | undefined;
  const listener = (q: { sql: string; bindings?: unknown[] }) => {
    if (/from "activity_events"/.test(q.sql) && /order by/.test(q.sql)) captured = { sql: q.sql, bindings: q.bindings ?? [] };
  };
  service.knex.on('query', listener);
  try {
    const res = await fetch(http, { headers: { authorization: `Bearer ${jwt}` } });
    if (res.status !== 200) throw new Error(`${c.name}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  } finally {
    service.knex.off('query', listener);
  }
  if (!captured) throw new Error(`${c.name}: the page query was not seen`);
  const native = service.knex.raw(captured.sql.replace(/\$\d+/g, '?'), captured.bindings as Knex.RawBinding[]).toSQL().toNative();
  return { http, sql: { text: native.sql, values: [...native.bindings] } };
}

async function pages(small: Dataset, big: Dataset): Promise<void> {
  const jwt = await token({ tenant: TENANT, scope: 'activity:read', expiresIn: '6h' });
  const scales = [
    { data: small, config: benchConfig(small.url, false) },
    { data: big, config: benchConfig(big.url, false) },
  ];
  const services = [await start(small.url), await start(big.url)];
  const clients = [new pg.Client({ connectionString: small.url }), new pg.Client({ connectionString: big.url })];
  await Promise.all(clients.map((c) => c.connect()));
  interface Row {
    name: string;
    depth: string;
    /** Per round: [small, big] endpoint p50, p99; [small, big] SQL p50. */
    rounds: { p50: [number, number]; p99: [number, number]; sql50: [number, number] }[];
  }
  const results: Row[] = [];
  try {
    const plans: { c: PageCase; depth: string; plan: [PagePlan, PagePlan] }[] = [];
    for (const c of PAGE_CASES) {
      for (const deep of [false, true]) {
        const plan = await Promise.all(scales.map((s, i) => pagePlan(services[i]!, s.config, jwt, s.data.anchor, c, deep)));
        if (plan[0] && plan[1]) plans.push({ c, depth: deep ? 'deep' : 'first', plan: plan as [PagePlan, PagePlan] });
        else if (deep) log(`pages ${c.name}: no deep page (a result of fewer than 2 events at one size)`);
      }
    }
    for (const p of plans) results.push({ name: p.c.name, depth: p.depth, rounds: [] });
    const fetchPage = async (url: string) => {
      const t0 = performance.now();
      const res = await fetch(url, { headers: { authorization: `Bearer ${jwt}` } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
      return performance.now() - t0;
    };
    const sqlPage = async (client: pg.Client, sql: PagePlan['sql']) => {
      const t0 = performance.now();
      await client.query(sql.text, sql.values);
      return performance.now() - t0;
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, p] of plans.entries()) {
        // Request by request: 100k endpoint, 10M endpoint, 100k SQL, 10M SQL, so each pair sees the same machine.
        const t: number[][] = [[], [], [], []];
        for (let i = 0; i < PAGE_WARMUP + PAGE_REQUESTS; i++) {
          const sample = [await fetchPage(p.plan[0].http), await fetchPage(p.plan[1].http), await sqlPage(clients[0]!, p.plan[0].sql), await sqlPage(clients[1]!, p.plan[1].sql)];
          if (i >= PAGE_WARMUP) sample.forEach((v, j) => t[j]!.push(v));
        }
        results[k]!.rounds.push({ p50: [quantile(t[0]!, 0.5), quantile(t[1]!, 0.5)], p99: [quantile(t[0]!, 0.99), quantile(t[1]!, 0.99)], sql50: [quantile(t[2]!, 0.5), quantile(t[3]!, 0.5)] });
      }
      const worst = results.map((r) => r.rounds.at(-1)!).reduce((w, r) => Math.max(w, r.p99[1] / r.p99[0]), 0);
      log(`pages round ${round + 1}: worst p99 ${fmtRows(big.rows)}/${fmtRows(small.rows)} ${worst.toFixed(2)}x`);
    }
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    for (const s of services) await s.stop();
  }
  const S = fmtRows(small.rows);
  const B = fmtRows(big.rows);
  const of = (r: Row, f: (x: Row['rounds'][number]) => number) => r.rounds.map(f);
  const table = results.map((r) => {
    const size = of(r, (x) => x.p99[1] / x.p99[0]);
    const api = of(r, (x) => x.p50[1] / x.sql50[1]);
    return `| ${r.name} | ${r.depth} | ${spread(of(r, (x) => x.p50[0]))} | ${spread(of(r, (x) => x.p99[0]))} | ${spread(of(r, (x) => x.p50[1]))} | ${spread(of(r, (x) => x.p99[1]))} | ${ratio(size)} | ${spread(of(r, (x) => x.sql50[1]))} | ${ratio(api)} |`;
  });
  const sizeRatios = results.map((r) => ({ r, v: of(r, (x) => x.p99[1] / x.p99[0]) }));
  const apiRatios = results.map((r) => ({ r, v: of(r, (x) => x.p50[1] / x.sql50[1]) }));
  const worstSize = sizeRatios.reduce((w, x) => (median(x.v) > median(w.v) ? x : w));
  const worstApi = apiRatios.reduce((w, x) => (median(x.v) > median(w.v) ? x : w));
  const setup = (d: Dataset) =>
    d.reused ? `kept from an earlier run (its build: load ${d.loadSeconds.toFixed(0)} s, indexes ${d.indexSeconds.toFixed(0)} s, vacuum analyze ${d.vacuumSeconds.toFixed(0)} s)` : `built in this run: load ${d.loadSeconds.toFixed(0)} s, indexes ${d.indexSeconds.toFixed(0)} s, vacuum analyze ${d.vacuumSeconds.toFixed(0)} s`;
  sections.push(
    [
      `**Pages** (limit 50; ${B} events of the queried tenant + ${B} of 9 others over 360 days, ${(big.bytes / 2 ** 30).toFixed(1)} GiB with indexes, against ${S} + ${S} in another database, ${(small.bytes / 2 ** 30).toFixed(2)} GiB; ${PAGE_REQUESTS} requests per page and round after ${PAGE_WARMUP} of warm-up, the sizes and the SQL alternating request by request; deep page: a cursor at the middle of the filter's result; SQL: the query the endpoint ran, captured from knex, sent again with pg from the same process; ms, median (min–max) over ${ROUNDS} rounds):`,
      '',
      `${B} set ${setup(big)}; ${S} set ${setup(small)}.`,
      '',
      `| filter | page | ${S} p50 | ${S} p99 | ${B} p50 | ${B} p99 | p99 ${B} / ${S} | SQL p50 at ${B} | endpoint / SQL p50 at ${B} |`,
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
      ...table,
    ].join('\n'),
  );
  targets.push({ name: `pages: p99 at ${B} within 1.5x of ${S}, first and deep pages, every filter (worst: ${worstSize.r.name}, ${worstSize.r.depth})`, measured: ratio(worstSize.v), met: BIG_ROWS >= 10_000_000 ? median(worstSize.v) <= 1.5 : undefined });
  targets.push({ name: `pages: endpoint p50 within 3x of the same keyset query in SQL (worst: ${worstApi.r.name}, ${worstApi.r.depth})`, measured: ratio(worstApi.v), met: median(worstApi.v) <= 3 });
}

const fmtRows = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

// ---- 3. stream

interface StreamRun {
  subscribers: number;
  deliveries: number;
  expected: number;
  disconnected: number;
  p50: number;
  p99: number;
  max: number;
  /** The busiest subscriber thread's share of the run spent working (its event loop utilisation). */
  clientBusy: number;
}

interface SubscriberThread {
  worker: Worker;
  delivered: number;
  closed: number;
}

/**
 * The subscribers, split over SUBSCRIBER_THREADS worker threads (subscribers are other processes in
 * production). One thread parsed 1,000 streams at 18.6 µs a delivery (37% busy at 20 events/s): 18.6 ms per event,
 * serially, more than the service's own writes to them (8.6 ms), so the spread across subscribers measured the
 * client's one thread as much as the service.
 */
async function openSubscribers(service: AuditService, subscribers: number, reader: string): Promise<SubscriberThread[]> {
  const threads = Math.min(SUBSCRIBER_THREADS, subscribers);
  return Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const count = Math.floor(subscribers / threads) + (t < subscribers % threads ? 1 : 0);
      const thread: SubscriberThread = {
        worker: new Worker(new URL('./subscribers.ts', import.meta.url), { workerData: { url: `${service.url}/api/v1/activity/stream`, headers: { authorization: `Bearer ${reader}` }, count } }),
        delivered: 0,
        closed: 0,
      };
      return new Promise<SubscriberThread>((resolve, reject) => {
        thread.worker.once('error', reject);
        thread.worker.on('message', (m: { kind: string; deliveries?: number; closed?: number }) => {
          if (m.kind === 'ready') resolve(thread);
          if (m.kind === 'count') {
            thread.delivered = m.deliveries!;
            thread.closed = Math.max(thread.closed, m.closed ?? 0);
          }
        });
      });
    }),
  );
}

async function streamRun(service: AuditService, subscribers: number, reader: string, writer: string): Promise<StreamRun> {
  const threads = await openSubscribers(service, subscribers, reader);
  const expected = STREAM_EVENTS * subscribers;
  const lags: number[] = [];
  let disconnected = 0;
  let clientBusy = 0;
  try {
    // A steady trickle of single writes (20 per second), as services record events.
    for (let i = 0; i < STREAM_EVENTS; i++) {
      const body = bodies(1, i)[0]!;
      const sent = { kind: 'sent', id: body.id, at: performance.timeOrigin + performance.now() };
      for (const { worker } of threads) worker.postMessage(sent);
      const res = await fetch(`${service.url}/api/v1/activity`, { method: 'POST', headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const deadline = Date.now() + 30_000;
    const delivered = () => threads.reduce((sum, t) => sum + t.delivered, 0);
    while (delivered() < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    await Promise.all(
      threads.map(async (thread) => {
        const closed = new Promise<void>((resolve) =>
          thread.worker.on('message', (m: { kind: string; lags?: Float64Array; closed?: number; busy?: number }) => {
            if (m.kind !== 'closed') return;
            for (const lag of m.lags!) lags.push(lag);
            disconnected += Math.max(thread.closed, m.closed ?? 0);
            clientBusy = Math.max(clientBusy, m.busy!);
            resolve();
          }),
        );
        thread.worker.postMessage({ kind: 'close' });
        await closed;
        await thread.worker.terminate();
      }),
    );
  }
  return { subscribers, deliveries: lags.length, expected, disconnected, p50: quantile(lags, 0.5), p99: quantile(lags, 0.99), max: maxOf(lags), clientBusy };
}

async function stream(): Promise<void> {
  const db = await createTestDatabase('lookout_bench_stream');
  const service = await start(db.url);
  const reader = await token({ tenant: 'bench', scope: 'activity:read', expiresIn: '6h' });
  const writer = await token({ tenant: 'bench', scope: 'activity:write', expiresIn: '6h' });
  const runs: [StreamRun, StreamRun][] = [];
  try {
    await streamRun(service, SUBSCRIBERS[0], reader, writer); // warm-up: JIT on both sides
    for (let round = 0; round < ROUNDS; round++) {
      const pair: StreamRun[] = [];
      for (const n of round % 2 ? [...SUBSCRIBERS].reverse() : SUBSCRIBERS) pair.push(await profiled(`stream-${n}-${round + 1}`, () => streamRun(service, n, reader, writer)));
      pair.sort((a, b) => a.subscribers - b.subscribers);
      runs.push(pair as [StreamRun, StreamRun]);
      log(`stream round ${round + 1}: ${pair.map((r) => `${r.subscribers} subscribers ${r.deliveries}/${r.expected} p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} ms, subscriber threads up to ${(100 * r.clientBusy).toFixed(0)}% busy`).join('; ')}`);
    }
  } finally {
    await service.stop();
    await db.drop();
  }
  const [few, many] = SUBSCRIBERS;
  const side = (i: 0 | 1) => runs.map((r) => r[i]);
  const row = (i: 0 | 1) => {
    const r = side(i);
    return `| ${r[0]!.subscribers} | ${r.reduce((s, x) => s + x.deliveries, 0)} of ${r.reduce((s, x) => s + x.expected, 0)} | ${maxOf(r.map((x) => x.disconnected))} | ${spread(r.map((x) => x.p50), 1)} | ${spread(r.map((x) => x.p99), 1)} | ${spread(r.map((x) => x.max), 1)} | ${spread(r.map((x) => 100 * x.clientBusy), 0)} |`;
  };
  const ratios = runs.map(([a, b]) => b.p99 / a.p99);
  const allDelivered = runs.every(([a, b]) => a.deliveries === a.expected && b.deliveries === b.expected);
  sections.push(
    [
      `**Stream** (${STREAM_EVENTS} single writes at ~20/s per run; latency from sending the POST to receipt by each subscriber; the subscribers run in ${SUBSCRIBER_THREADS} worker threads; ${few} and ${many} subscribers alternate, ${ROUNDS} rounds; ms, median (min–max) over rounds):`,
      '',
      '| subscribers | deliveries (all rounds) | disconnected | p50 | p99 | max | busiest subscriber thread, % busy |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      row(0),
      row(1),
      '',
      // The target is on p99, whose denominator (the 6th-slowest event of 600 at 100 subscribers) swings with the
      // machine; the p50 ratio says the same thing with less noise.
      `p99 ${many} / ${few} per round: ${ratio(ratios)}; p50 ${many} / ${few} per round: ${ratio(runs.map(([a, b]) => b.p50 / a.p50))}.`,
    ].join('\n'),
  );
  targets.push({ name: `stream: ${many} subscribers, every delivery made`, measured: `${side(1).reduce((s, x) => s + x.deliveries, 0)} of ${side(1).reduce((s, x) => s + x.expected, 0)}`, met: allDelivered });
  targets.push({ name: `stream: p99 at ${many} subscribers within 2x of ${few}`, measured: ratio(ratios), met: many >= 1000 ? median(ratios) <= 2 : undefined });
}

// ---- 4. verify

async function verify(): Promise<void> {
  if (!SEALING) {
    targets.push({ name: 'verify: a month of 1M events at ≥ 0.5x the speed of COPY of the same rows', measured: 'not measured: this build has no sealing', met: undefined });
    return;
  }
  // The previous calendar month, VERIFY_ROWS events of one tenant, sealed and digested by the service itself.
  const to = monthStart(new Date());
  const from = addMonths(to, -1);
  // Seals made by other sealing code or schema might not verify: a change to either rebuilds the set.
  const sealVersion = createHash('sha256')
    .update(['../src/seal/', '../migrations/'].flatMap((dir) => readdirSync(new URL(dir, import.meta.url)).sort().map((f) => source(`${dir}${f}`))).join('\0'))
    .digest('hex')
    .slice(0, 8);
  const data = await ensureDataset({
    rows: VERIFY_ROWS,
    name: `lookout_bench_audit_verify_${VERIFY_ROWS}`,
    others: false,
    chunk: BATCH,
    anchor: new Date(to.getTime() - 1000),
    spreadDays: (to.getTime() - from.getTime() - 2000) / DAY,
    version: `verify-${iso(from.getTime()).slice(0, 7)}-${sealVersion}`,
    prepare: async (url) => {
      const t0 = performance.now();
      const service = await start(url, true);
      try {
        await sealedAll(service.knex, TENANT, VERIFY_ROWS, 1_800_000);
        // …and covered by a digest.
        for (const deadline = Date.now() + 60_000; ; ) {
          const { rows } = await service.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from activity_seal_heads where tenant_id = ? and digested_position >= position`, [TENANT]);
          if (rows[0]!.n === '1') break;
          if (Date.now() > deadline) throw new Error('no digest covers the sealed events after 60 s');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await service.stop();
      }
      log(`verify set: sealed ${VERIFY_ROWS} events in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      return { signingKey: SIGNING_KEY, sealSeconds: ((performance.now() - t0) / 1000).toFixed(0) };
    },
  });
  const month = { from: monthStart(data.anchor), to: addMonths(monthStart(data.anchor), 1) };
  // The key that signed the kept set's digests.
  const service = await start(data.url, true, data.extra.signingKey);
  const jwt = await token({ tenant: TENANT, scope: 'activity:read', expiresIn: '6h' });
  const copyRates: number[] = [];
  const verifyRates: number[] = [];
  const client = new pg.Client({ connectionString: data.url });
  await client.connect();
  try {
    const copyOut = async () => {
      const t0 = performance.now();
      let rows = 0;
      const out = client.query(copyStreams.to(`copy (select * from activity_events where tenant_id = '${TENANT}' and occurred_at >= '${month.from.toISOString()}' and occurred_at < '${month.to.toISOString()}') to stdout`));
      await pipeline(out, new Writable({ write(chunk: Buffer, _enc, done) { for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++; done(); } }));
      if (rows !== VERIFY_ROWS) throw new Error(`COPY read ${rows} rows, expected ${VERIFY_ROWS}`);
      return VERIFY_ROWS / ((performance.now() - t0) / 1000);
    };
    const verifyOnce = async () => {
      const t0 = performance.now();
      const res = await fetch(`${service.url}/api/v1/activity/verify?from=${month.from.toISOString()}&to=${month.to.toISOString()}`, { headers: { authorization: `Bearer ${jwt}` } });
      const body = (await res.json()) as { ok: boolean; pending: number; problems: unknown[] };
      if (res.status !== 200 || !body.ok || body.pending !== 0) throw new Error(`verify answered ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      return VERIFY_ROWS / ((performance.now() - t0) / 1000);
    };
    await copyOut();
    await verifyOnce(); // warm-up: JIT and cache
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2) {
        verifyRates.push(await verifyOnce());
        copyRates.push(await copyOut());
      } else {
        copyRates.push(await copyOut());
        verifyRates.push(await verifyOnce());
      }
      log(`verify round ${round + 1}: COPY ${copyRates.at(-1)!.toFixed(0)} rows/s, verify ${verifyRates.at(-1)!.toFixed(0)} rows/s`);
    }
  } finally {
    await client.end();
    await service.stop();
  }
  const ratios = verifyRates.map((v, i) => v / copyRates[i]!);
  sections.push(
    [
      `**Verify** (${fmtRows(VERIFY_ROWS)} events of one tenant in ${iso(month.from.getTime()).slice(0, 7)}, sealed and digested by the service (${data.reused ? 'kept from an earlier run' : `built in this run: load ${data.loadSeconds.toFixed(0)} s, indexes ${data.indexSeconds.toFixed(0)} s, sealing ${data.extra.sealSeconds} s`}); GET /api/v1/activity/verify over the month against COPY (select * of the same rows) to stdout, alternating, ${ROUNDS} rounds):`,
      '',
      '| path | rows/s, median (min–max) | of COPY, per round |',
      '|---|---:|---:|',
      `| COPY … TO STDOUT | ${spread(copyRates, 0)} | 1 |`,
      `| GET /api/v1/activity/verify | ${spread(verifyRates, 0)} | ${ratio(ratios)} |`,
    ].join('\n'),
  );
  targets.push({ name: `verify: a month of ${fmtRows(VERIFY_ROWS)} events at ≥ 0.5x the speed of COPY of the same rows`, measured: ratio(ratios), met: VERIFY_ROWS >= 1_000_000 ? median(ratios) >= 0.5 : undefined });
}

// ---- the run

async function main(): Promise<void> {
  const started = performance.now();
  if (ONLY.has('ingest')) await ingest();
  if (ONLY.has('pages')) {
    const setup0 = performance.now();
    const small = await ensureDataset(SMALL_ROWS);
    const big = await ensureDataset(BIG_ROWS);
    log(`page data sets ready in ${((performance.now() - setup0) / 1000).toFixed(0)} s (${big.reused ? 'kept' : 'built'})`);
    await pages(small, big);
  }
  if (ONLY.has('stream')) await stream();
  if (ONLY.has('verify')) await verify();
  const lines = [
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB; PostgreSQL on the same machine; ${new Date().toISOString().slice(0, 10)}; ${ROUNDS} rounds; the run took ${((performance.now() - started) / 60_000).toFixed(0)} min.`,
    '',
    ...sections.flatMap((s) => [s, '']),
    '**Targets** (ratios within this run, median over rounds (min–max)):',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...targets.map((t) => `| ${t.name} | ${t.measured} | ${t.met === undefined ? 'not judged' : t.met ? '**met**' : '**not met**'} |`),
  ];
  const report = lines.join('\n');
  mkdirSync(new URL('../../.bench/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../../.bench/audit.md', import.meta.url), `${report}\n`);
  console.log(report);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
