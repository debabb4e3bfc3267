// The whole cycle on the real PostgreSQL server with the real pg_dump and pg_restore: an audit database the
// audit API migrated and wrote to, a runs database the runs service migrated; `./lookout backup`'s command
// and the backup service with the agent preloaded, exporting to a real OTLP receiver; then the restore drill.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile, cp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'mocha';
import pg from 'pg';
import { call, createTestDatabase, eventually, IP_HMAC_KEY, JWT_SECRET, OtlpReceiver, PRELOAD, repoPath, SERVER_URL, spawnNode, token, type TestDatabase } from '@lookout/testkit';
import type { Manifest } from '../src/dump.js';
import { OPS_DIR, runCommand } from './fixtures/run-command.js';

/** The audit API's migrations, by name, as knex records them (the file name without its extension). */
const AUDIT_MIGRATIONS = readdirSync(repoPath('audit-api/migrations'))
  .filter((name) => /^\d+_.*\.(ts|js)$/.test(name))
  .map((name) => name.replace(/\.(ts|js)$/, ''))
  .sort();

const listeningOn = (name: string) => (line: Record<string, unknown>) => (line.message === `${name} listening` && typeof line.port === 'number' ? line.port : undefined);

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

describe('backups and the restore drill (real PostgreSQL, pg_dump, pg_restore, OTLP)', function () {
  this.timeout(120_000);
  const receiver = new OtlpReceiver();
  let audit: TestDatabase;
  let runs: TestDatabase;
  let dir: string;
  let env: Record<string, string>;
  /** The audit API's answer before the backup, and one event to write again after a restore. */
  let sourceEvents: unknown[];
  let lastEvent: unknown;

  before(async function () {
    this.timeout(120_000);
    await receiver.start();
    [audit, runs] = await Promise.all([createTestDatabase('lookout_backup_audit'), createTestDatabase('lookout_backup_runs')]);
    dir = mkdtempSync(join(tmpdir(), 'lookout-backups-'));
    env = {
      LOOKOUT_BACKUP_DATABASES: `audit=${audit.url},runs=${runs.url}`,
      LOOKOUT_BACKUP_DIR: dir,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'backup',
      OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=lookout',
    };

    // The audit API migrates its database and stores events through its own API; the runs service migrates its own.
    const quiet = { HOST: '127.0.0.1', PORT: '0', OTEL_SDK_DISABLED: 'true' };
    const api = await spawnNode([...PRELOAD, 'dist/src/main.js'], {
      cwd: repoPath('audit-api'),
      name: 'audit-api',
      port: listeningOn('audit-api'),
      env: { ...quiet, DATABASE_URL: audit.url, LOOKOUT_AUDIT_HOST: '127.0.0.1', LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET, LOOKOUT_AUDIT_IP_HMAC_KEY: IP_HMAC_KEY },
    });
    try {
      await api.waitForLine((l) => l.message === 'audit-api ready', 20_000);
      const events = ['2026-08-10T00:00:00Z', '2026-10-10T00:00:00Z', new Date().toISOString()].map((occurred_at, i) => ({
        action: 'storage.file.deleted',
        status: 'success',
        occurred_at,
        actor: { type: 'user', id: `u${i}` },
        metadata: { file_id: `f${i}` },
      }));
      const written = await call(api.url, 'POST', '/api/v1/activity/batch', { token: await token({ tenant: 'tenant-backup', scope: 'activity:write' }), body: { events } });
      assert.equal(written.status, 201, JSON.stringify(written.body));
      sourceEvents = (await call(api.url, 'GET', '/api/v1/activity?limit=500', { token: await token({ tenant: 'tenant-backup', scope: 'activity:read' }) })).body.data;
      lastEvent = events[2];
    } finally {
      await api.stop();
    }
    const runsService = await spawnNode([...PRELOAD, 'dist/src/runs.js'], { cwd: repoPath('examples'), name: 'runs', port: listeningOn('runs'), env: { ...quiet, DATABASE_URL: runs.url } });
    try {
      await runsService.waitForLine((l) => l.message === 'migrations applied');
    } finally {
      await runsService.stop();
    }
    await query(runs.url, `insert into workflow_runs (tenant_id, workflow_id, requested_by) select 'acme', 'nightly', 'u' || g from generate_series(1, 5) g`);
  });

  after(async () => {
    await receiver.stop();
    await Promise.all([audit?.drop(), runs?.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const manifests = (database: string) =>
    readdirSync(join(dir, database))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, database, f), 'utf8')) as Manifest);

  it('backs up every database in custom format with a manifest of its row counts, and exports the metrics', async () => {
    const run = await runCommand('backup-now', env);
    assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.lines)}`);
    for (const [database, table, rows] of [
      ['audit', 'public.activity_events', 3],
      ['runs', 'public.workflow_runs', 5],
    ] as const) {
      const files = readdirSync(join(dir, database)).sort();
      assert.equal(files.length, 2, files.join(', '));
      assert.match(files[0]!, new RegExp(`^${database}-\\d{8}T\\d{6}Z\\.dump$`));
      assert.equal(files[1], files[0]!.replace(/\.dump$/, '.json'));
      const [manifest] = manifests(database);
      const dump = readFileSync(join(dir, database, manifest!.file));
      assert.equal(dump.subarray(0, 5).toString(), 'PGDMP', "pg_dump's custom format");
      assert.equal(manifest!.sizeBytes, dump.length);
      assert.equal(manifest!.sha256, createHash('sha256').update(dump).digest('hex'));
      assert.equal(manifest!.tables[table], rows);
      assert.match(manifest!.serverVersion, /^\d+\.\d+/);
      assert.ok(run.lines.some((l) => l.message === 'backup finished' && l.database === database));
    }
    assert.equal(manifests('audit')[0]!.tables['public.audit_knex_migrations'], AUDIT_MIGRATIONS.length, 'one row per applied migration');

    await receiver.waitFor('the backup metrics of both databases', () => {
      const last = receiver.metric('lookout.backup.last_success');
      const size = receiver.metric('lookout.backup.size');
      const duration = receiver.metric('lookout.backup.duration');
      return last?.points.length === 2 && size?.points.length === 2 && duration?.points.length === 2;
    });
    const last = receiver.metric('lookout.backup.last_success')!;
    assert.equal(last.unit, 's');
    assert.equal(last.type, 'gauge');
    assert.equal(last.resource['service.name'], 'backup');
    for (const database of ['audit', 'runs']) {
      const point = last.points.find((p) => p.attributes.database === database)!;
      assert.ok(Math.abs(point.value! - Date.now() / 1000) < 120, `last_success of ${database}: ${point.value}`);
      const size = receiver.metric('lookout.backup.size')!.points.find((p) => p.attributes.database === database)!;
      assert.equal(size.value, manifests(database)[0]!.sizeBytes);
      assert.equal(receiver.metric('lookout.backup.duration')!.points.find((p) => p.attributes.database === database)!.count, 1);
    }
    assert.equal(receiver.metric('lookout.backup.size')!.unit, 'By');
    assert.equal(receiver.metric('lookout.backup.duration')!.type, 'histogram');
  });

  it('restores the newest backup of each database into a scratch database, checks it, records the restore time and drops it', async () => {
    // Written after the dump: the drill compares with the counts at dump time, not with the live database.
    await query(runs.url, `insert into workflow_runs (tenant_id, workflow_id, requested_by) values ('acme', 'late', 'u9')`);
    receiver.reset();
    const run = await runCommand('restore-drill', { ...env, LOOKOUT_RESTORE_DRILL_DATABASE_URL: SERVER_URL });
    assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.lines, null, 1)}`);
    const passed = run.lines.filter((l) => l.message === 'restore drill passed');
    assert.deepEqual(passed.map((l) => l.database).sort(), ['audit', 'runs']);
    const checks = (database: string) => Object.fromEntries((passed.find((l) => l.database === database)!.checks as { check: string; ok: boolean; detail: string }[]).map((c) => [c.check, c]));
    const auditChecks = checks('audit');
    assert.deepEqual(Object.keys(auditChecks).sort(), ['audit_api', 'checksum', 'migrations', 'row_counts']);
    assert.ok(Object.values(auditChecks).every((c) => c.ok));
    assert.ok(auditChecks.migrations!.detail.startsWith(`audit_knex_migrations: ${AUDIT_MIGRATIONS.at(-1)};`), auditChecks.migrations!.detail);
    assert.match(auditChecks.audit_api!.detail, /GET \/health\/db 200; GET \/api\/v1\/activity for tenant tenant-backup: 200, 1 event/);
    const runsChecks = checks('runs');
    assert.deepEqual(Object.keys(runsChecks).sort(), ['checksum', 'migrations', 'row_counts']);
    // 5 runs (not the 6th, written later), knex's migration row and its lock row
    assert.match(runsChecks.row_counts!.detail, /3 tables, 7 rows, as at dump time/);

    const scratch = passed.map((l) => String(l.scratch));
    assert.ok(scratch.every((name) => name.startsWith('lookout_drill_')));
    assert.deepEqual(await query(SERVER_URL, 'select datname from pg_database where datname = any($1)', [scratch]), [], 'the scratch databases are dropped');

    await receiver.waitFor('the restore durations', () => receiver.metric('lookout.backup.restore.duration')?.points.length === 2);
    for (const point of receiver.metric('lookout.backup.restore.duration')!.points) assert.ok(point.value! > 0 && point.value! < 60, JSON.stringify(point));
    assert.equal(receiver.metric('lookout.backup.failures'), undefined, 'no failure counted');
  });

  it('a backup restored as README says (pg_restore into an empty database) serves the same events, and new writes do not collide', async () => {
    const target = await createTestDatabase('lookout_backup_restored');
    try {
      const [manifest] = manifests('audit');
      await promisify(execFile)('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${target.url}`, join(dir, 'audit', manifest!.file)]);
      const api = await spawnNode([...PRELOAD, 'dist/src/main.js'], {
        cwd: repoPath('audit-api'),
        name: 'audit-api',
        port: listeningOn('audit-api'),
        env: { HOST: '127.0.0.1', PORT: '0', OTEL_SDK_DISABLED: 'true', DATABASE_URL: target.url, LOOKOUT_AUDIT_HOST: '127.0.0.1', LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET, LOOKOUT_AUDIT_IP_HMAC_KEY: IP_HMAC_KEY },
      });
      try {
        await api.waitForLine((l) => l.message === 'audit-api ready', 20_000);
        const tok = await token({ tenant: 'tenant-backup', scope: 'activity:write activity:read' });
        const restored = (await call(api.url, 'GET', '/api/v1/activity?limit=500', { token: tok })).body.data;
        assert.equal(restored.length, 3);
        assert.deepEqual(restored, sourceEvents);
        // The sequence continues past the restored rows.
        assert.equal((await call(api.url, 'POST', '/api/v1/activity', { token: tok, body: lastEvent })).status, 201);
      } finally {
        await api.stop();
      }
    } finally {
      await target.drop();
    }
  });

  it('fails a drill whose dump does not match its manifest, and counts it', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'lookout-backups-bad-'));
    try {
      const [manifest] = manifests('runs');
      const folder = join(copy, 'runs');
      await cp(join(dir, 'runs'), folder, { recursive: true });
      await appendFile(join(folder, manifest!.file), 'x');
      receiver.reset();
      const run = await runCommand('restore-drill', { ...env, LOOKOUT_BACKUP_DIR: copy, LOOKOUT_RESTORE_DRILL_DATABASE_URL: SERVER_URL });
      assert.equal(run.code, 1);
      const failed = run.lines.find((l) => l.message === 'restore drill failed')!;
      assert.equal(failed.database, 'runs');
      assert.deepEqual((failed.checks as { check: string; ok: boolean }[]).map((c) => [c.check, c.ok]), [['checksum', false]]);
      await receiver.waitFor('the failure', () => receiver.metric('lookout.backup.failures'));
      assert.deepEqual(receiver.metric('lookout.backup.failures')!.points.map((p) => [p.attributes, p.value]), [[{ database: 'runs', reason: 'check' }, 1]]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('counts a dump that fails (a database that does not answer) and leaves no partial file', async () => {
    receiver.reset();
    const unreachable = new URL(SERVER_URL);
    unreachable.pathname = '/lookout_backup_no_such_database';
    const run = await runCommand('backup-now', { ...env, LOOKOUT_BACKUP_DATABASES: `missing=${unreachable}` });
    assert.equal(run.code, 1);
    const failed = run.lines.find((l) => l.message === 'backup failed')!;
    assert.equal(failed.database, 'missing');
    assert.equal(failed.reason, 'dump');
    assert.match(String(failed.error), /lookout_backup_no_such_database/);
    assert.deepEqual(readdirSync(join(dir, 'missing')), []);
    await receiver.waitFor('the failure', () => receiver.metric('lookout.backup.failures'));
    assert.deepEqual(receiver.metric('lookout.backup.failures')!.points.map((p) => [p.attributes, p.value]), [[{ database: 'missing', reason: 'dump' }, 1]]);
    assert.equal(receiver.metric('lookout.backup.last_success'), undefined);
  });

  it('removes the partial file of a pg_dump that fails part-way, and no backup appears', async () => {
    // The manifest's counts read every table, then pg_dump fails on what the login may not read: a sequence.
    const role = `lookout_backup_test_${process.pid}`;
    await query(SERVER_URL, `create role ${role} login`);
    try {
      await query(runs.url, `grant usage on schema public to ${role}; grant select on workflow_runs, runs_knex_migrations, runs_knex_migrations_lock to ${role}`);
      const url = new URL(runs.url);
      url.username = role;
      const before = readdirSync(join(dir, 'runs')).sort();
      const run = await runCommand('backup-now', { ...env, LOOKOUT_BACKUP_DATABASES: `runs=${url}` });
      assert.equal(run.code, 1);
      assert.match(String(run.lines.find((l) => l.message === 'backup failed')!.error), /^runs: pg_dump exited with 1: .*permission denied for sequence/s);
      assert.deepEqual(readdirSync(join(dir, 'runs')).sort(), before);
    } finally {
      await query(runs.url, `revoke all on all tables in schema public from ${role}; revoke usage on schema public from ${role}`);
      await query(SERVER_URL, `drop role ${role}`);
    }
  });

  it('applies the retention policy to the folder after each backup: older copies beyond the counts are deleted', async () => {
    const keepDir = mkdtempSync(join(tmpdir(), 'lookout-backup-retention-'));
    try {
      const folder = join(keepDir, 'runs');
      await mkdir(folder);
      // Three earlier backups, on three days of one week: the daily rule keeps only the newest day's.
      for (const day of ['2026-01-05', '2026-01-06', '2026-01-07']) {
        const file = `runs-${day.replace(/-/g, '')}T023000Z.dump`;
        writeFileSync(join(folder, file), 'PGDMP');
        writeFileSync(join(folder, file.replace(/\.dump$/, '.json')), JSON.stringify({ database: 'runs', file, startedAt: `${day}T02:30:00.000Z`, finishedAt: `${day}T02:30:01.000Z`, tables: {} }));
      }
      const run = await runCommand('backup-now', { ...env, LOOKOUT_BACKUP_DATABASES: `runs=${runs.url}`, LOOKOUT_BACKUP_DIR: keepDir, LOOKOUT_BACKUP_KEEP_DAILY: '2', LOOKOUT_BACKUP_KEEP_WEEKLY: '0', LOOKOUT_BACKUP_KEEP_MONTHLY: '0' });
      assert.equal(run.code, 0, run.stderr);
      const removed = run.lines.find((l) => l.message === 'old backups removed')!;
      assert.deepEqual(removed.removed, ['runs-20260106T023000Z.dump', 'runs-20260105T023000Z.dump']);
      const left = readdirSync(folder).sort();
      assert.equal(left.length, 4, left.join(', '));
      assert.deepEqual(left.slice(0, 2), ['runs-20260107T023000Z.dump', 'runs-20260107T023000Z.json']);
    } finally {
      rmSync(keepDir, { recursive: true, force: true });
    }
  });

  it('the service stopped by SIGTERM during a dump ends pg_dump, leaves no partial file and counts no failure', async () => {
    const big = await createTestDatabase('lookout_backup_big');
    const serviceDir = mkdtempSync(join(tmpdir(), 'lookout-backup-sigterm-'));
    try {
      // Enough rows that pg_dump takes a few seconds.
      await query(big.url, `create table big as select g as id, md5(g::text) as v from generate_series(1, 3000000) g`);
      receiver.reset();
      const service = await spawnNode([...PRELOAD, 'dist/src/main.js'], {
        cwd: OPS_DIR,
        name: 'backup',
        port: (l) => (l.message === 'backup service started' ? 1 : undefined),
        env: { ...env, LOOKOUT_BACKUP_DATABASES: `big=${big.url}`, LOOKOUT_BACKUP_DIR: serviceDir },
      });
      await eventually('pg_dump writing its partial file', () => existsSync(join(serviceDir, 'big')) && readdirSync(join(serviceDir, 'big')).some((f) => f.endsWith('.dump.partial')), 20_000);
      assert.deepEqual(await service.stop(), { code: 0, signal: null });
      assert.ok(service.lines.some((l) => typeof l === 'object' && l.message === 'backup interrupted by shutdown'), JSON.stringify(service.lines));
      assert.deepEqual(readdirSync(join(serviceDir, 'big')), []);
      assert.equal(receiver.metric('lookout.backup.failures'), undefined);
    } finally {
      rmSync(serviceDir, { recursive: true, force: true });
      await big.drop();
    }
  });

  it('the service removes what interrupted runs left, backs up at start when a database has no backup from today, not again after a restart, and stops on SIGTERM', async () => {
    const serviceDir = mkdtempSync(join(tmpdir(), 'lookout-backup-service-'));
    try {
      const start = () =>
        spawnNode([...PRELOAD, 'dist/src/main.js'], {
          cwd: OPS_DIR,
          name: 'backup',
          // It serves no port: the line announcing the next run stands for "started".
          port: (l) => (l.message === 'next backup scheduled' ? 1 : undefined),
          env: { ...env, LOOKOUT_BACKUP_DATABASES: `runs=${runs.url}`, LOOKOUT_BACKUP_DIR: serviceDir },
          startTimeoutMs: 60_000,
        });
      // What a killed run would leave: a partial dump, and a dump whose manifest was never written.
      await mkdir(join(serviceDir, 'runs'));
      for (const name of ['runs-20260101T023000Z.dump.partial', 'runs-20260102T023000Z.dump']) writeFileSync(join(serviceDir, 'runs', name), 'PGDMP');
      const first = await start();
      const cleaned = first.lines.find((l) => typeof l === 'object' && l.message === 'removed what an interrupted backup left') as Record<string, unknown>;
      assert.deepEqual(cleaned.removed, ['runs-20260101T023000Z.dump.partial', 'runs-20260102T023000Z.dump']);
      assert.ok(first.lines.some((l) => typeof l === 'object' && l.message === 'backup finished' && l.database === 'runs'));
      assert.deepEqual(await first.stop(), { code: 0, signal: null });
      const second = await start();
      assert.ok(!second.lines.some((l) => typeof l === 'object' && l.message === 'backup finished'), 'no second backup today');
      await second.stop();
      assert.equal(readdirSync(join(serviceDir, 'runs')).filter((f) => f.endsWith('.dump')).length, 1);
    } finally {
      rmSync(serviceDir, { recursive: true, force: true });
    }
  });
});
