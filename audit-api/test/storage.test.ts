// Storage against a real PostgreSQL server: migrations forward and back, monthly partitions, retention.
import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { afterEach, beforeEach, describe, it } from 'mocha';
import { createTestDatabase, type TestDatabase } from '@lookout/testkit';
import { runRetention } from '../src/jobs/retention.js';
import type { NewEvent } from '../src/domain/activity-event.js';
import { EventStore } from '../src/store/events.js';
import { migrateLatest, migrationConfig, migrationSource } from '../src/store/migrations.js';
import { listPartitions, Partitions } from '../src/store/partitions.js';

function newEvent(occurredAt: string, i = 0): NewEvent {
  return {
    id: `0190${String(i).padStart(4, '0')}-0000-7000-8000-${Date.parse(occurredAt).toString(16).padStart(12, '0').slice(-12)}`,
    occurred_at: new Date(occurredAt),
    action: 'auth.logout',
    status: 'success',
    actor: { type: 'user', id: 'u' },
    metadata: {},
  };
}

describe('storage (real PostgreSQL)', function () {
  let db: TestDatabase;
  let knex: Knex;

  beforeEach(async () => {
    db = await createTestDatabase();
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } });
  });

  afterEach(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  const tables = async () =>
    (await knex.raw(`select tablename from pg_tables where schemaname = 'public' order by 1`)).rows.map((r: { tablename: string }) => r.tablename);

  it('migrates up, down and up again', async () => {
    assert.equal((await migrationSource.getMigrations([]))[0], '001_activity_events');
    assert.deepEqual(await migrateLatest(knex), await migrationSource.getMigrations([]));
    assert.ok((await tables()).includes('activity_events'));
    assert.ok((await tables()).includes('audit_retention_runs'));
    const { rows } = await knex.raw(`select partstrat from pg_partitioned_table where partrelid = 'activity_events'::regclass`);
    assert.deepEqual(rows, [{ partstrat: 'r' }], 'range partitioned');
    await knex.migrate.rollback(migrationConfig, true);
    assert.deepEqual((await tables()).filter((t: string) => t.startsWith('activity') || t.startsWith('audit_retention')), []);
    assert.deepEqual(await migrateLatest(knex), await migrationSource.getMigrations([]));
  });

  it('creates monthly partitions ahead and on demand, concurrently without conflict', async () => {
    await migrateLatest(knex);
    const partitions = new Partitions(knex);
    await partitions.ensureAhead(new Date('2026-11-22T00:00:00Z'), 3);
    // Two replicas racing for the same months.
    await Promise.all([new Partitions(knex).ensureFor([new Date('2025-02-10T00:00:00Z')]), new Partitions(knex).ensureFor([new Date('2025-02-20T00:00:00Z')])]);
    assert.deepEqual(
      (await listPartitions(knex)).map((p) => p.name),
      ['activity_events_y2025m02', 'activity_events_y2026m11', 'activity_events_y2026m12', 'activity_events_y2027m01', 'activity_events_y2027m02'],
    );
    const store = new EventStore(knex, partitions);
    await store.insert('t', [newEvent('2024-06-30T23:59:59Z')]);
    assert.ok((await listPartitions(knex)).some((p) => p.name === 'activity_events_y2024m06'));
  });

  describe('batch insert (COPY, falling back to INSERT … ON CONFLICT when a row is already stored)', () => {
    let store: EventStore;
    beforeEach(async () => {
      await migrateLatest(knex);
      store = new EventStore(knex, new Partitions(knex));
    });

    it('stores values COPY must escape exactly as sent, and answers with them and the stored seq and times', async () => {
      const awkward = { ...newEvent('2026-11-02T10:00:00.123Z', 1), actor: { type: 'user', id: 'tab\there', display: 'line\nbreak \\N back\\slash \r\b\f\v é ☃' }, user_agent: '\\N', metadata: { q: 'a\tb\\c"d', n: [1.5, null] } };
      const [sent] = (await store.insert('t', [awkward])).events;
      const { rows } = await knex.raw(`select actor_id, actor_display, user_agent, metadata, seq::text as seq, to_char(received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as received_at from activity_events where id = ?`, [awkward.id]);
      assert.deepEqual(rows[0], { actor_id: 'tab\there', actor_display: awkward.actor.display, user_agent: '\\N', metadata: awkward.metadata, seq: sent!.seq, received_at: sent!.received_at });
      assert.equal(sent!.occurred_at, '2026-11-02T10:00:00.123000Z');
    });

    it('returns the stored events of a batch retried with some new events, storing only the new ones', async () => {
      const first = [newEvent('2026-11-02T10:00:00Z', 1), newEvent('2026-11-02T10:00:01Z', 2)];
      const stored = await store.insert('t', first);
      assert.deepEqual([...stored.inserted].sort(), first.map((e) => e.id).sort());
      const again = await store.insert('t', [...first, newEvent('2026-11-02T10:00:02Z', 3)]);
      assert.deepEqual([...again.inserted], [newEvent('2026-11-02T10:00:02Z', 3).id]);
      assert.deepEqual(again.events.slice(0, 2), stored.events);
      const { rows } = await knex.raw(`select count(*)::int as n from activity_events`);
      assert.equal(rows[0].n, 3);
    });

    it('stores each event once when two requests carry the same batch at the same time', async () => {
      const batch = Array.from({ length: 200 }, (_, i) => newEvent(`2026-11-03T10:00:${String(i % 60).padStart(2, '0')}Z`, i));
      const [a, b] = await Promise.all([store.insert('t', batch), store.insert('t', batch)]);
      assert.equal(a.inserted.size + b.inserted.size, 200);
      assert.deepEqual(a.events, b.events);
      const { rows } = await knex.raw(`select count(*)::int as n from activity_events`);
      assert.equal(rows[0].n, 200);
    });
  });

  describe('retention', () => {
    const now = new Date('2026-11-22T12:00:00Z');
    // 60 days before now: 2026-09-23T12:00:00Z.
    const dates = {
      dropped: ['2026-07-15T00:00:00Z', '2026-08-01T00:00:00Z', '2026-08-31T23:59:59Z'],
      trimmed: ['2026-09-01T00:00:00Z', '2026-09-10T00:00:00Z', '2026-09-23T11:59:59Z'],
      kept: ['2026-09-23T12:00:00Z', '2026-09-30T23:59:59Z', '2026-10-15T00:00:00Z', '2026-11-22T11:00:00Z'],
    };

    beforeEach(async () => {
      await migrateLatest(knex);
      const store = new EventStore(knex, new Partitions(knex));
      const all = [...dates.dropped, ...dates.trimmed, ...dates.kept];
      await store.insert('tenant-r', all.map((d, i) => newEvent(d, i)));
      await store.insert('tenant-s', all.map((d, i) => newEvent(d, i + 100)));
    });

    it('dry run counts what would go and removes nothing', async () => {
      const result = await runRetention(knex, { retentionDays: 60, batchSize: 2, dryRun: true, now });
      assert.equal(result.cutoff, '2026-09-23T12:00:00.000Z');
      assert.deepEqual(result.partitions_dropped, ['activity_events_y2026m07', 'activity_events_y2026m08']);
      assert.equal(result.rows_removed, 12);
      const { rows } = await knex.raw('select count(*)::int as n from activity_events');
      assert.equal(rows[0].n, 20);
    });

    it('drops expired months, trims the partial month in bounded batches, keeps exactly the rest, and records the run', async () => {
      const result = await runRetention(knex, { retentionDays: 60, batchSize: 2, dryRun: false, now });
      assert.equal(result.rows_removed, 12);
      const { rows } = await knex.raw(`select tenant_id, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as at from activity_events order by 1, 2`);
      const expected = dates.kept.map((d) => d.replace('.000', ''));
      assert.deepEqual(rows, [...expected.map((at) => ({ tenant_id: 'tenant-r', at })), ...expected.map((at) => ({ tenant_id: 'tenant-s', at }))]);
      const names = (await listPartitions(knex)).map((p) => p.name);
      assert.ok(!names.includes('activity_events_y2026m07') && !names.includes('activity_events_y2026m08'));
      assert.ok(!(await tables()).includes('activity_events_y2026m07'), 'detached partitions are dropped, not left behind');
      const runs = (await knex('audit_retention_runs').orderBy('id')) as { dry_run: boolean; rows_removed: string; finished_at: Date | null; error: string | null; partitions_dropped: string[] }[];
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.rows_removed, '12');
      assert.deepEqual(runs[0]!.partitions_dropped, ['activity_events_y2026m07', 'activity_events_y2026m08']);
      assert.ok(runs[0]!.finished_at);
      assert.equal(runs[0]!.error, null);
      // A second run finds nothing more to do.
      assert.equal((await runRetention(knex, { retentionDays: 60, batchSize: 2, dryRun: false, now })).rows_removed, 0);
    });
  });
});
