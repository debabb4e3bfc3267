// The off-site copy against a real S3-compatible server (moto, on loopback), with the real pg_dump: the
// upload's keys, metadata and parts, retention on the bucket, an endpoint that does not answer, and the restore
// drill reading from S3. Credentials come from the AWS SDK's standard variables, as in production.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { after, afterEach, before, describe, it } from 'mocha';
import pg from 'pg';
import { createTestDatabase, freePort, OtlpReceiver, PRELOAD, SERVER_URL, spawnNode, type TestDatabase } from '@lookout/testkit';
import type { Manifest } from '../src/dump.js';
import { AWS_ENV, startMoto, type Moto } from './fixtures/moto.js';
import { OPS_DIR, runCommand } from './fixtures/run-command.js';

describe('the S3 copy of each backup (moto, real pg_dump, OTLP)', function () {
  this.timeout(180_000);
  const receiver = new OtlpReceiver();
  let moto: Moto;
  let db: TestDatabase;
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookout-backup-s3-'));
    dirs.push(dir);
    return dir;
  };
  const env = (dir: string, s3: Record<string, string>) => ({
    ...AWS_ENV,
    LOOKOUT_BACKUP_DATABASES: `sample=${db.url}`,
    LOOKOUT_BACKUP_DIR: dir,
    LOOKOUT_BACKUP_S3_ENDPOINT: moto.endpoint,
    ...s3,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: 'backup',
  });
  const keys = async (bucket: string) => ((await moto.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).sort();
  const body = async (bucket: string, key: string) => Buffer.from(await (await moto.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());

  before(async function () {
    this.timeout(360_000);
    [moto] = await Promise.all([startMoto(), receiver.start()]);
    db = await createTestDatabase('lookout_backup_s3');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // md5 text compresses about 2:1, so the dump is larger than one 5 MiB part and goes up as a multipart upload.
    await client.query('create table samples as select g as id, md5(g::text) as a, md5((g + 1)::text) as b from generate_series(1, 250000) g');
    await client.end();
  });

  afterEach(() => receiver.reset());

  after(async () => {
    await Promise.all([moto?.stop(), receiver.stop(), db?.drop()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('uploads the dump, then its manifest, to <prefix><database>/ under the names on the volume, with the sha256 as x-amz-meta-sha256', async () => {
    await moto.createBucket('lookout-upload');
    const dir = scratch();
    const run = await runCommand('backup-now', env(dir, { LOOKOUT_BACKUP_S3_BUCKET: 'lookout-upload' }));
    assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.lines)}`);

    const [manifestFile] = readdirSync(join(dir, 'sample')).filter((f) => f.endsWith('.json'));
    const manifest = JSON.parse(readFileSync(join(dir, 'sample', manifestFile!), 'utf8')) as Manifest;
    const dumpKey = `lookout-backups/sample/${manifest.file}`;
    const manifestKey = `lookout-backups/sample/${manifestFile}`;
    assert.deepEqual(await keys('lookout-upload'), [dumpKey, manifestKey]);

    const head = await moto.client.send(new HeadObjectCommand({ Bucket: 'lookout-upload', Key: dumpKey }));
    assert.equal(head.ContentLength, manifest.sizeBytes);
    assert.equal(head.Metadata?.sha256, manifest.sha256);
    assert.ok(manifest.sizeBytes > 5 * 1024 * 1024, `the dump is ${manifest.sizeBytes} bytes: more than one part`);
    assert.match(head.ETag!, /-\d+"$/, 'a multipart upload');
    const dump = await body('lookout-upload', dumpKey);
    assert.equal(createHash('sha256').update(dump).digest('hex'), manifest.sha256);
    const manifestObject = await body('lookout-upload', manifestKey);
    assert.deepEqual(manifestObject, readFileSync(join(dir, 'sample', manifestFile!)));
    const manifestHead = await moto.client.send(new HeadObjectCommand({ Bucket: 'lookout-upload', Key: manifestKey }));
    assert.equal(manifestHead.Metadata?.sha256, createHash('sha256').update(manifestObject).digest('hex'));

    const uploaded = run.lines.find((l) => l.message === 'backup uploaded')!;
    assert.deepEqual([uploaded.database, uploaded.bucket, uploaded.dumpKey, uploaded.manifestKey], ['sample', 'lookout-upload', dumpKey, manifestKey]);
    assert.ok(run.lines.findIndex((l) => l.message === 'backup finished') < run.lines.indexOf(uploaded));
    await receiver.waitFor('last_success', () => receiver.metric('lookout.backup.last_success'));
    assert.equal(receiver.metric('lookout.backup.last_success')!.points[0]!.value, Date.parse(manifest.finishedAt) / 1000);
    assert.equal(receiver.metric('lookout.backup.failures'), undefined);
  });

  it('applies the retention policy to the objects under the prefix, manifests and dumps, and leaves objects that are not backups', async () => {
    await moto.createBucket('lookout-retention');
    const put = (key: string, text: string) => moto.client.send(new PutObjectCommand({ Bucket: 'lookout-retention', Key: key, Body: text }));
    const folder = 'team/backups/sample/';
    // Three earlier backups on three days of one week; a dump whose manifest never arrived (an upload that
    // failed); an object someone else put there; another database's backup.
    for (const day of ['20260105', '20260106', '20260107']) {
      await put(`${folder}sample-${day}T023000Z.dump`, 'PGDMP');
      await put(`${folder}sample-${day}T023000Z.json`, '{}');
    }
    await put(`${folder}sample-20260104T023000Z.dump`, 'PGDMP');
    await put(`${folder}notes.txt`, 'not a backup');
    await put('team/backups/other/other-20250101T023000Z.dump', 'PGDMP');
    await put('team/backups/other/other-20250101T023000Z.json', '{}');

    const dir = scratch();
    const run = await runCommand(
      'backup-now',
      env(dir, { LOOKOUT_BACKUP_S3_BUCKET: 'lookout-retention', LOOKOUT_BACKUP_S3_PREFIX: 'team/backups/', LOOKOUT_BACKUP_KEEP_DAILY: '2', LOOKOUT_BACKUP_KEEP_WEEKLY: '0', LOOKOUT_BACKUP_KEEP_MONTHLY: '0' }),
    );
    assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.lines)}`);
    const removed = run.lines.find((l) => l.message === 'old backups removed from S3')!;
    assert.deepEqual(removed.removed, ['sample-20260106T023000Z', 'sample-20260105T023000Z', 'sample-20260104T023000Z']);
    const made = readdirSync(join(dir, 'sample')).sort();
    assert.deepEqual(await keys('lookout-retention'), [
      'team/backups/other/other-20250101T023000Z.dump',
      'team/backups/other/other-20250101T023000Z.json',
      `${folder}notes.txt`,
      `${folder}sample-20260107T023000Z.dump`,
      `${folder}sample-20260107T023000Z.json`,
      ...made.map((f) => `${folder}${f}`),
    ]);
  });

  it('an endpoint that does not answer: counts failures{reason="upload"}, no last_success, exit code 1, and the copy on the volume stays', async () => {
    const dir = scratch();
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const run = await runCommand('backup-now', env(dir, { LOOKOUT_BACKUP_S3_BUCKET: 'lookout-upload', LOOKOUT_BACKUP_S3_ENDPOINT: nobody }));
    assert.equal(run.code, 1, `${run.stderr}\n${JSON.stringify(run.lines)}`);
    const failed = run.lines.find((l) => l.message === 'backup upload failed')!;
    assert.equal(failed.database, 'sample');
    assert.equal(failed.reason, 'upload');
    assert.match(String(failed.error), /uploading .*sample-\d{8}T\d{6}Z\.dump to lookout-backups\/sample\//);
    const files = readdirSync(join(dir, 'sample')).sort();
    assert.equal(files.length, 2, files.join(', '));
    assert.match(files[0]!, /\.dump$/);
    assert.match(files[1]!, /\.json$/);
    await receiver.waitFor('the failure', () => receiver.metric('lookout.backup.failures'));
    assert.deepEqual(receiver.metric('lookout.backup.failures')!.points.map((p) => [p.attributes, p.value]), [[{ database: 'sample', reason: 'upload' }, 1]]);
    // The duration of the dump is exported with the failure: the round got that far.
    await receiver.waitFor('the dump duration', () => receiver.metric('lookout.backup.duration'));
    assert.equal(receiver.metric('lookout.backup.last_success'), undefined, 'not a success while the off-site copy is missing');
  });

  it('the service, started with a backup from today that S3 does not have, uploads it instead of dumping again', async () => {
    await moto.createBucket('lookout-catchup');
    const dir = scratch();
    const offline = await runCommand('backup-now', env(dir, { LOOKOUT_BACKUP_S3_BUCKET: 'lookout-catchup', LOOKOUT_BACKUP_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` }));
    assert.equal(offline.code, 1);
    const files = readdirSync(join(dir, 'sample')).sort();
    receiver.reset();
    const service = await spawnNode([...PRELOAD, 'dist/src/main.js'], {
      cwd: OPS_DIR,
      name: 'backup',
      port: (l) => (l.message === 'next backup scheduled' ? 1 : undefined),
      env: env(dir, { LOOKOUT_BACKUP_S3_BUCKET: 'lookout-catchup' }),
      startTimeoutMs: 60_000,
    });
    try {
      assert.ok(service.lines.some((l) => typeof l === 'object' && l.message === 'backup uploaded'), JSON.stringify(service.lines));
      assert.ok(!service.lines.some((l) => typeof l === 'object' && l.message === 'backup finished'), 'no second dump today');
      assert.deepEqual(await keys('lookout-catchup'), files.map((f) => `lookout-backups/sample/${f}`));
      await receiver.waitFor('last_success', () => receiver.metric('lookout.backup.last_success'));
    } finally {
      assert.deepEqual(await service.stop(), { code: 0, signal: null });
    }
  });

  it('the restore drill restores the newest backup in S3 when the volume has none, and removes its download', async () => {
    const empty = scratch();
    const run = await runCommand('restore-drill', { ...env(empty, { LOOKOUT_BACKUP_S3_BUCKET: 'lookout-upload' }), LOOKOUT_RESTORE_DRILL_DATABASE_URL: SERVER_URL });
    assert.equal(run.code, 0, `${run.stderr}\n${JSON.stringify(run.lines, null, 1)}`);
    assert.ok(run.lines.some((l) => l.message === 'drilling the newest backup in S3: the volume has none' && l.database === 'sample'));
    const passed = run.lines.find((l) => l.message === 'restore drill passed')!;
    assert.equal(passed.database, 'sample');
    assert.equal(passed.from, 's3://lookout-upload/lookout-backups/');
    const checks = Object.fromEntries((passed.checks as { check: string; ok: boolean; detail: string }[]).map((c) => [c.check, c]));
    assert.deepEqual(Object.keys(checks).sort(), ['checksum', 'row_counts']);
    assert.match(checks.row_counts!.detail, /1 tables, 250000 rows, as at dump time/);
    assert.deepEqual(readdirSync(empty), []);
  });
});
