// npm run bench:audit — the audit API against the PostgreSQL it runs on, in one run:
//   1. ingest: raw COPY of rows into activity_events (the ceiling) against the batch endpoint end to end
//      (HTTP, JWT, validation, scrubbing, idempotency lookup, insert), same rows, interleaved rounds;
//   2. query latency of filtered cursor pages with BENCH_AUDIT_ROWS (1M) rows stored: first and deep pages;
//   3. write-to-SSE delivery latency with BENCH_AUDIT_SUBSCRIBERS (100) subscribers.
// Knobs: BENCH_AUDIT_ROUNDS (3), BENCH_AUDIT_INGEST_ROWS (100000), BENCH_AUDIT_ROWS (1000000),
// BENCH_AUDIT_SUBSCRIBERS (100), BENCH_AUDIT_STREAM_EVENTS (200), LOOKOUT_TEST_DATABASE_URL.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cpus, totalmem } from 'node:os';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { PassThrough } from 'node:stream';
import { BATCH_PATH, createLogger, uuidv7 } from '@lookout/agent';
import { createTestDatabase, JWT_SECRET, token } from '@lookout/testkit';
import { loadConfig } from '../src/config.js';
import { startService, type AuditService } from '../src/service.js';
import { CursorCodec } from '../src/store/cursor.js';
import { describeFilters, parseFilters } from '../src/domain/filters.js';
import { SseReader } from '../test/fixtures/sse-reader.js';

const ROUNDS = Number(process.env.BENCH_AUDIT_ROUNDS ?? 3);
const INGEST_ROWS = Number(process.env.BENCH_AUDIT_INGEST_ROWS ?? 100_000);
const QUERY_ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 1_000_000);
const SUBSCRIBERS = Number(process.env.BENCH_AUDIT_SUBSCRIBERS ?? 100);
const STREAM_EVENTS = Number(process.env.BENCH_AUDIT_STREAM_EVENTS ?? 200);
const BATCH = 1000;
const CONCURRENCY = 4;
const IP_KEY = 'bench-ip-hmac-key-0123456789';

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const quantile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

/** The same synthetic events for both ingest paths: realistic sizes, a few actions, some metadata. */
function bodies(count: number, start: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, k) => {
    const i = start + k;
    return {
      id: uuidv7(),
      action: i % 2 ? 'storage.file.uploaded' : 'auth.login.success',
      status: 'success',
      occurred_at: new Date(Date.now() - (i % 86_400) * 1000).toISOString(),
      actor: { type: 'user', id: `user-${i % 5000}`, display: `User ${i % 5000}` },
      object: { type: 'file', id: `file-${i}` },
      request_id: `req-${i}`,
      trace_id: randomUUID().replace(/-/g, ''),
      metadata: i % 2 ? { file_id: `file-${i}`, size_bytes: i % 100_000, content_type: 'application/pdf' } : { method: 'password', mfa: true },
    };
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

async function postBatches(base: string, jwt: string, events: Record<string, unknown>[]): Promise<number> {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const res = await fetch(`${base}${BATCH_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: JSON.stringify({ events: batch }) });
        if (res.status !== 201) throw new Error(`batch answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  return events.length / ((performance.now() - start) / 1000);
}

async function start(url: string): Promise<AuditService> {
  const logs = new PassThrough();
  logs.resume();
  const config = loadConfig({
    DATABASE_URL: url,
    PORT: '0',
    LOOKOUT_AUDIT_HOST: '127.0.0.1',
    LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET,
    LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY,
    LOOKOUT_AUDIT_RATE_LIMIT_RPS: '1000000',
    LOOKOUT_AUDIT_RATE_LIMIT_BURST: '1000000',
  });
  const service = await startService(config, createLogger({ stream: logs, level: 'warn' }));
  await service.ready;
  return service;
}

async function ingest(): Promise<{ copy: number[]; api: number[]; ratios: number[] }> {
  const db = await createTestDatabase();
  const service = await start(db.url);
  const jwt = await token({ tenant: 'bench', scope: 'activity:write' });
  const out = { copy: [] as number[], api: [] as number[], ratios: [] as number[] };
  try {
    // Warm-up: JIT, pool, partitions.
    await postBatches(service.url, jwt, bodies(5000, 0));
    for (let round = 0; round < ROUNDS; round++) {
      const rows = bodies(INGEST_ROWS, round * INGEST_ROWS);
      await service.knex.raw('truncate activity_events');
      const copy = await copyRows(db.url, 'bench', rows);
      await service.knex.raw('truncate activity_events');
      const api = await postBatches(service.url, jwt, rows);
      out.copy.push(copy);
      out.api.push(api);
      out.ratios.push(api / copy);
      console.error(`ingest round ${round + 1}: COPY ${copy.toFixed(0)} rows/s, batch endpoint ${api.toFixed(0)} rows/s (${((api / copy) * 100).toFixed(0)}%)`);
    }
  } finally {
    await service.stop();
    await db.drop();
  }
  return out;
}

interface QueryCase {
  name: string;
  query: string;
}

async function queries(): Promise<{ name: string; depth: string; p50: number; p99: number }[]> {
  const db = await createTestDatabase();
  const service = await start(db.url);
  const jwt = await token({ tenant: 'bench', scope: 'activity:read' });
  const results: { name: string; depth: string; p50: number; p99: number }[] = [];
  try {
    // QUERY_ROWS for the measured tenant over the last 12 months, and as many again for 9 others.
    console.error(`loading ${QUERY_ROWS} rows (+${QUERY_ROWS} for other tenants) with COPY…`);
    const spread = 365 * 86_400_000;
    const now = Date.now();
    for (const tenant of ['bench', 'other']) {
      for (let i = 0; i < QUERY_ROWS; i += 50_000) {
        const rows = bodies(Math.min(50_000, QUERY_ROWS - i), i).map((e, k) => ({ ...e, occurred_at: new Date(now - Math.floor(((i + k) * 7919) % QUERY_ROWS) * (spread / QUERY_ROWS)).toISOString() }));
        await ensurePartitions(service, rows.map((r) => new Date(String(r.occurred_at))));
        await copyRows(db.url, tenant === 'bench' ? 'bench' : `other-${i % 9}`, rows);
      }
    }
    await service.knex.raw('analyze activity_events');
    const codec = new CursorCodec(Buffer.from(`cursor:${IP_KEY}`));
    const cases: QueryCase[] = [
      { name: 'no filter', query: '' },
      { name: 'action', query: 'action=storage.file.uploaded' },
      { name: 'action prefix auth.*', query: 'action=auth.*' },
      { name: 'actor_id', query: 'actor_id=user-42' },
      { name: 'time window (1 day)', query: `from=${new Date(now - 30 * 86_400_000).toISOString()}&to=${new Date(now - 29 * 86_400_000).toISOString()}` },
    ];
    for (const c of cases) {
      const filters = parseFilters(Object.fromEntries(new URLSearchParams(c.query)));
      // A deep position: the middle of this filter's result set, read straight from the table.
      const { rows } = await service.knex.raw(
        `select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as t, id from activity_events where tenant_id = 'bench' ${c.query.startsWith('action=storage') ? `and action = 'storage.file.uploaded'` : ''} order by occurred_at desc, id desc offset ? limit 1`,
        [c.name === 'no filter' || c.name === 'action' ? Math.floor(QUERY_ROWS / 2.5) : 0],
      );
      const deep = codec.encode({ occurredAt: rows[0].t, id: rows[0].id }, 'bench', describeFilters(filters));
      for (const [depth, cursor] of [['first page', undefined], ['deep page', deep]] as const) {
        if (depth === 'deep page' && !(c.name === 'no filter' || c.name === 'action')) continue;
        const url = `${service.url}/api/v1/activity?limit=50${c.query ? `&${c.query}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const times: number[] = [];
        for (let i = 0; i < 400; i++) {
          const t0 = performance.now();
          const res = await fetch(url, { headers: { authorization: `Bearer ${jwt}` } });
          const body = (await res.json()) as { data: unknown[] };
          if (res.status !== 200) throw new Error(`${c.name}: ${res.status} ${JSON.stringify(body)}`);
          if (i >= 50) times.push(performance.now() - t0); // the first 50 warm up
        }
        results.push({ name: c.name, depth, p50: quantile(times, 0.5), p99: quantile(times, 0.99) });
        console.error(`query ${c.name}, ${depth}: p50 ${quantile(times, 0.5).toFixed(2)} ms, p99 ${quantile(times, 0.99).toFixed(2)} ms`);
      }
    }
  } finally {
    await service.stop();
    await db.drop();
  }
  return results;
}

async function ensurePartitions(service: AuditService, dates: Date[]): Promise<void> {
  const { Partitions } = await import('../src/store/partitions.js');
  await new Partitions(service.knex).ensureFor(dates);
}

async function stream(): Promise<{ deliveries: number; expected: number; p50: number; p99: number; max: number }> {
  const db = await createTestDatabase();
  const service = await start(db.url);
  const reader = await token({ tenant: 'bench', scope: 'activity:read' });
  const writer = await token({ tenant: 'bench', scope: 'activity:write' });
  const sentAt = new Map<string, number>();
  const lags: number[] = [];
  const subscribers: SseReader[] = [];
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) subscribers.push(await SseReader.open(`${service.url}/api/v1/activity/stream`, { authorization: `Bearer ${reader}` }));
    const collect = () => {
      for (const s of subscribers) {
        for (const m of s.drainEvents()) {
          const id = (JSON.parse(m.data!) as { id: string }).id;
          const t = sentAt.get(id);
          if (t !== undefined) lags.push(m.at! - t);
        }
      }
    };
    // A steady trickle of single writes (20 per second), as services record events.
    for (let i = 0; i < STREAM_EVENTS; i++) {
      const body = bodies(1, i)[0]!;
      sentAt.set(body.id as string, performance.now());
      const res = await fetch(`${service.url}/api/v1/activity`, { method: 'POST', headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 50));
      collect();
    }
    const deadline = Date.now() + 10_000;
    while (lags.length < STREAM_EVENTS * SUBSCRIBERS && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      collect();
    }
    return { deliveries: lags.length, expected: STREAM_EVENTS * SUBSCRIBERS, p50: quantile(lags, 0.5), p99: quantile(lags, 0.99), max: Math.max(...lags) };
  } finally {
    for (const s of subscribers) s.close();
    await service.stop();
    await db.drop();
  }
}

async function main(): Promise<void> {
  const ingestResult = await ingest();
  const queryResult = await queries();
  const streamResult = await stream();
  const ratio = median(ingestResult.ratios);
  const lines = [
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB; PostgreSQL on the same machine; ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `**Ingest** (${INGEST_ROWS} rows per round, ${ROUNDS} rounds, medians; batch endpoint: ${BATCH} events per request, ${CONCURRENCY} requests in flight):`,
    '',
    '| path | rows/s | of COPY |',
    '|---|---:|---:|',
    `| raw COPY (ceiling) | ${median(ingestResult.copy).toFixed(0)} | 100% |`,
    `| POST /api/v1/activity/batch | ${median(ingestResult.api).toFixed(0)} | ${(ratio * 100).toFixed(0)}% (target ≥ 50%) |`,
    '',
    `**Pages** (${QUERY_ROWS} events of the queried tenant, as many of 9 others, over 12 months; limit 50; 350 requests each over HTTP with JWT):`,
    '',
    '| filter | page | p50 ms | p99 ms |',
    '|---|---|---:|---:|',
    ...queryResult.map((r) => `| ${r.name} | ${r.depth} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`),
    '',
    `Worst p99: ${Math.max(...queryResult.map((r) => r.p99)).toFixed(2)} ms (target < 10 ms).`,
    '',
    `**Stream** (${SUBSCRIBERS} SSE subscribers, ${STREAM_EVENTS} single writes at ~20/s; latency from sending the POST to receipt by each subscriber): ${streamResult.deliveries} of ${streamResult.expected} deliveries, p50 ${streamResult.p50.toFixed(1)} ms, p99 ${streamResult.p99.toFixed(1)} ms, max ${streamResult.max.toFixed(1)} ms (target p99 < 250 ms).`,
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
