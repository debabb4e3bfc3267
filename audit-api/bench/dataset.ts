// The page benchmark's data sets: a dedicated database per size, generated in SQL (INSERT … SELECT
// generate_series, the fastest way in), indexes built after loading, and kept between runs behind a
// marker table so that 20M rows are paid for once. `npx tsx bench/dataset.ts [rows]` builds one alone.
import { performance } from 'node:perf_hooks';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { SERVER_URL } from '@lookout/testkit';
import { migrateLatest } from '../src/store/migrations.js';
import { Partitions } from '../src/store/partitions.js';

/** Bump when the generated rows change: a kept database with another version is rebuilt. */
const GENERATOR = 'g4';
/** Events of the queried tenant span this many days before the anchor (inside the default 365-day retention). */
export const SPREAD_DAYS = 360;
/** The queried tenant; as many rows again belong to OTHER_TENANTS others. */
export const TENANT = 'bench';
const OTHER_TENANTS = 9;
const CHUNK = 500_000;
const LOADERS = 2;

/**
 * Ten actions in a fixed rotation (i % 10): uploads 40%, logins 30%, logout, a failed login (the only
 * status=failure, 10%) and deletes 10% each. Objects repeat every 1,000 events, actors every 5,000.
 */
const ACTIONS = ['storage.file.uploaded', 'storage.file.uploaded', 'storage.file.uploaded', 'storage.file.uploaded', 'auth.login.success', 'auth.login.success', 'auth.login.success', 'auth.logout', 'auth.login.failure', 'storage.file.deleted'];

export interface Dataset {
  url: string;
  name: string;
  rows: number;
  /** Newest possible occurred_at; every event is within SPREAD_DAYS before it. */
  anchor: Date;
  /** Seconds the build took (load, index, vacuum), when this run built it; the kept marker's otherwise. */
  loadSeconds: number;
  indexSeconds: number;
  vacuumSeconds: number;
  reused: boolean;
  /** What `prepare` returned when the set was built (kept in the marker). */
  extra: Record<string, string>;
  /** On-disk size of activity_events with its indexes, bytes. */
  bytes: number;
}

export function datasetUrl(name: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    return await client.query<T>(sql, values);
  } finally {
    await client.end();
  }
}

export interface DatasetSpec {
  rows: number;
  /** Database name; default lookout_bench_audit_<rows>. */
  name?: string;
  /** As many rows again for OTHER_TENANTS other tenants (default true). */
  others?: boolean;
  /** Newest occurred_at (default: this hour) and how many days the rows span before it (default SPREAD_DAYS). */
  anchor?: Date;
  spreadDays?: number;
  /** Part of the marker's version: a kept set whose version differs is rebuilt. */
  version?: string;
  /** Rows per loading transaction (default 500,000); the sealer reads by transaction, so a sealed set loads as batches do. */
  chunk?: number;
  /** Runs once after the build (indexes in place); what it returns is kept in the marker. */
  prepare?: (url: string) => Promise<Record<string, string>>;
}

/** `rows` events of TENANT (and `rows` of others), in a database of their own; built unless kept. */
export async function ensureDataset(spec: DatasetSpec | number, log: (line: string) => void = (line) => console.error(line)): Promise<Dataset> {
  const { rows, others = true, spreadDays = SPREAD_DAYS, chunk = CHUNK, prepare } = typeof spec === 'number' ? { rows: spec } : spec;
  const name = (typeof spec === 'object' && spec.name) || `lookout_bench_audit_${rows}`;
  const url = datasetUrl(name);
  const version = [GENERATOR, rows, typeof spec === 'object' ? spec.version : undefined].filter((v) => v !== undefined).join(':');
  const exists = (await admin(`select 1 from pg_database where datname = $1`, [name])).rowCount === 1;
  if (exists) {
    const kept = await readMarker(url).catch(() => undefined);
    if (kept?.version === version) {
      const knex = open(url);
      try {
        // A migration added since the build is applied to the kept rows, as in production.
        const applied = await migrateLatest(knex);
        if (applied.length > 0) log(`dataset ${name}: applied ${applied.join(', ')} to the kept rows`);
        return { url, name, rows, anchor: kept.anchor, loadSeconds: kept.load_s, indexSeconds: kept.index_s, vacuumSeconds: kept.vacuum_s, reused: true, extra: kept.extra ?? {}, bytes: await tableBytes(knex) };
      } finally {
        await knex.destroy();
      }
    }
    log(`dataset ${name}: marker ${kept?.version ?? 'missing'} is not ${version}; rebuilding`);
    await admin(`drop database ${name} with (force)`);
  }
  await admin(`create database ${name}`);
  const knex = open(url);
  try {
    await migrateLatest(knex);
    const anchor = (typeof spec === 'object' && spec.anchor) || new Date(Math.floor(Date.now() / 3600_000) * 3600_000);
    const months: Date[] = [];
    for (let d = anchor.getTime() - spreadDays * 86_400_000; d <= anchor.getTime() + 31 * 86_400_000; d += 86_400_000) months.push(new Date(d));
    await new Partitions(knex).ensureFor(months);

    // Indexes and the primary key come off for the load and go back as the migrations defined them.
    const indexes = (await knex.raw<{ rows: { indexname: string; indexdef: string }[] }>(`
      select indexname, indexdef from pg_indexes where schemaname = current_schema() and tablename = 'activity_events'
         and indexname not in (select conname from pg_constraint where conrelid = 'activity_events'::regclass)`)).rows;
    const constraints = (await knex.raw<{ rows: { conname: string; def: string }[] }>(`
      select conname, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'activity_events'::regclass and contype in ('p', 'u')`)).rows;
    for (const { indexname } of indexes) await knex.raw(`drop index ??`, [indexname]);
    for (const { conname } of constraints) await knex.raw(`alter table activity_events drop constraint ??`, [conname]);

    log(`dataset ${name}: generating ${rows}${others ? ` + ${rows}` : ''} rows in SQL (${LOADERS} connections)…`);
    const load0 = performance.now();
    const chunks: [string, number, number][] = [];
    for (const tenant of [`'${TENANT}'`, ...(others ? [`'other-' || (i % ${OTHER_TENANTS})`] : [])]) {
      for (let lo = 0; lo < rows; lo += chunk) chunks.push([tenant, lo, Math.min(rows, lo + chunk) - 1]);
    }
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: LOADERS }, async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`set synchronous_commit = off`);
          while (next < chunks.length) {
            const [tenant, lo, hi] = chunks[next++]!;
            await client.query(generateSql(tenant, rows, lo, hi, anchor, spreadDays));
            done += hi - lo + 1;
            if (done % CHUNK === 0 || done === rows * (others ? 2 : 1)) log(`  ${done} of ${chunks.length > 0 ? (others ? 2 : 1) * rows : 0} rows (${((performance.now() - load0) / 1000).toFixed(0)} s)`);
          }
        } finally {
          await client.end();
        }
      }),
    );
    const loadSeconds = (performance.now() - load0) / 1000;

    log(`dataset ${name}: building ${indexes.length + constraints.length} indexes…`);
    const index0 = performance.now();
    // One statement per transaction: a transaction holding an xid for minutes holds back every snapshot's
    // xmin in the cluster, and the sealer (src/seal/) seals nothing above it meanwhile.
    const builder = new pg.Client({ connectionString: url });
    await builder.connect();
    try {
      await builder.query(`set maintenance_work_mem = '512MB'`);
      for (const { conname, def } of constraints) await builder.query(`alter table activity_events add constraint "${conname}" ${def}`);
      // pg_indexes reads a partitioned index as CREATE INDEX … ON ONLY, which would index the parent alone.
      for (const { indexdef } of indexes) await builder.query(indexdef.replace(/ ON ONLY /i, ' ON '));
    } finally {
      await builder.end();
    }
    const indexSeconds = (performance.now() - index0) / 1000;
    const vacuum0 = performance.now();
    // Hint bits, the visibility map (index-only scans) and statistics, as an aged table has them.
    await knex.raw(`vacuum (analyze) activity_events`);
    const vacuumSeconds = (performance.now() - vacuum0) / 1000;
    const extra = prepare ? await prepare(url) : {};
    await knex.raw(`create table bench_dataset (version text not null, anchor timestamptz not null, load_s float8 not null, index_s float8 not null, vacuum_s float8 not null, extra jsonb not null default '{}', built_at timestamptz not null default now())`);
    await knex.raw(`insert into bench_dataset (version, anchor, load_s, index_s, vacuum_s, extra) values (?, ?, ?, ?, ?, ?)`, [version, anchor.toISOString(), loadSeconds, indexSeconds, vacuumSeconds, JSON.stringify(extra)]);
    log(`dataset ${name}: load ${loadSeconds.toFixed(0)} s, indexes ${indexSeconds.toFixed(0)} s, vacuum analyze ${vacuumSeconds.toFixed(0)} s`);
    return { url, name, rows, anchor, loadSeconds, indexSeconds, vacuumSeconds, reused: false, extra, bytes: await tableBytes(knex) };
  } catch (err) {
    await knex.destroy();
    await admin(`drop database if exists ${name} with (force)`).catch(() => {});
    throw err;
  } finally {
    await knex.destroy().catch(() => {});
  }
}

/**
 * Rows lo..hi of one tenant expression. occurred_at walks a permutation of the SPREAD_DAYS range
 * ((i·7919) mod rows: 7919 is prime and divides neither 2 nor 5), so timestamps are distinct and rows are
 * not stored in time order, as events from many writers are not.
 */
function generateSql(tenant: string, rows: number, lo: number, hi: number, anchor: Date, spreadDays: number): string {
  const stepSeconds = (spreadDays * 86_400) / rows;
  return `
    insert into activity_events (tenant_id, id, occurred_at, received_at, action, status, actor_type, actor_id, actor_display,
                                 object_type, object_id, request_id, trace_id, ip_hash, user_agent, metadata)
    select t, md5(t || ':' || i)::uuid, at, at, a, case when i % 10 = 8 then 'failure' else 'success' end,
           'user', 'user-' || (i % 5000), 'User ' || (i % 5000),
           case when a like 'storage.%' then 'file' else 'session' end,
           case when a like 'storage.%' then 'file-' else 'session-' end || (i % 1000),
           'req-' || i, md5('trace:' || t || i), md5('ip:' || (i % 1000)), 'bench-agent/1.0',
           case when a like 'storage.%' then jsonb_build_object('file_id', 'file-' || (i % 1000), 'size_bytes', i % 100000, 'content_type', 'application/pdf')
                else jsonb_build_object('method', 'password', 'mfa', i % 3 = 0) end
      from (select i, ${tenant} as t,
                   to_timestamp(${anchor.getTime() / 1000} - ((i::bigint * 7919) % ${rows}) * ${stepSeconds}) as at,
                   (array[${ACTIONS.map((a) => `'${a}'`).join(', ')}])[i % 10 + 1] as a
              from generate_series(${lo}, ${hi}) i) s`;
}

function open(url: string): Knex {
  return knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 2 } });
}

async function readMarker(url: string): Promise<{ version: string; anchor: Date; load_s: number; index_s: number; vacuum_s: number; extra?: Record<string, string> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`select * from bench_dataset`);
    return rows[0];
  } finally {
    await client.end();
  }
}

async function tableBytes(knex: Knex): Promise<number> {
  const { rows } = await knex.raw<{ rows: { bytes: string }[] }>(`
    select sum(pg_total_relation_size(inhrelid))::bigint as bytes from pg_inherits where inhparent = 'activity_events'::regclass`);
  return Number(rows[0]?.bytes ?? 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = Number(process.argv[2] ?? 10_000_000);
  ensureDataset(rows)
    .then((d) => console.log(JSON.stringify({ ...d, gib: (d.bytes / 2 ** 30).toFixed(2) })))
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
