// The backup and drill environment: what is accepted, and what is refused with a message naming the variable.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { ConfigError, loadBackupConfig, loadDrillConfig } from '../src/config.js';

const BASE = { LOOKOUT_BACKUP_DATABASES: 'audit=postgres://a:pw@db:5432/audit, runs=postgres://r@db/runs', LOOKOUT_BACKUP_DIR: '/backups' };

describe('backup configuration', () => {
  it('reads name=url pairs, the directory, the daily time and the 7/4/12 retention by default', () => {
    const config = loadBackupConfig(BASE);
    assert.deepEqual(config.databases, [
      { name: 'audit', url: 'postgres://a:pw@db:5432/audit' },
      { name: 'runs', url: 'postgres://r@db/runs' },
    ]);
    assert.equal(config.dir, '/backups');
    assert.equal(config.scheduleMinutes, 2 * 60 + 30);
    assert.deepEqual(config.retention, { daily: 7, weekly: 4, monthly: 12 });
    assert.equal(loadBackupConfig({ ...BASE, LOOKOUT_BACKUP_SCHEDULE: '23:05', LOOKOUT_BACKUP_KEEP_MONTHLY: '0' }).scheduleMinutes, 23 * 60 + 5);
    assert.equal(config.s3, undefined, 'no S3 copy unless a bucket is named');
  });

  it('turns the S3 copy on with a bucket: AWS by default, path-style addressing by default for an endpoint of its own', () => {
    assert.deepEqual(loadBackupConfig({ ...BASE, LOOKOUT_BACKUP_S3_BUCKET: 'acme-backups' }).s3, {
      bucket: 'acme-backups',
      prefix: 'lookout-backups/',
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: false,
    });
    assert.deepEqual(loadBackupConfig({ ...BASE, LOOKOUT_BACKUP_S3_BUCKET: 'acme-backups', LOOKOUT_BACKUP_S3_ENDPOINT: 'http://minio:9000', LOOKOUT_BACKUP_S3_PREFIX: 'prod/db/', LOOKOUT_BACKUP_S3_REGION: 'auto' }).s3, {
      bucket: 'acme-backups',
      prefix: 'prod/db/',
      endpoint: 'http://minio:9000',
      region: 'auto',
      forcePathStyle: true,
    });
    const virtualHosted = { ...BASE, LOOKOUT_BACKUP_S3_BUCKET: 'acme-backups', LOOKOUT_BACKUP_S3_ENDPOINT: 'https://s3.example.net', LOOKOUT_BACKUP_S3_FORCE_PATH_STYLE: 'false' };
    assert.equal(loadBackupConfig(virtualHosted).s3!.forcePathStyle, false);
    // An empty value, as `VAR=` in an env file gives, is unset.
    assert.equal(loadBackupConfig({ ...BASE, LOOKOUT_BACKUP_S3_BUCKET: '', LOOKOUT_BACKUP_S3_PREFIX: '' }).s3, undefined);
  });

  for (const [env, message] of [
    [{ LOOKOUT_BACKUP_DATABASES: '' }, /LOOKOUT_BACKUP_DATABASES must name/],
    [{ LOOKOUT_BACKUP_DATABASES: 'postgres://db/audit' }, /not a name=url pair/],
    [{ LOOKOUT_BACKUP_DATABASES: 'audit=mysql://db/audit' }, /must start with postgres:\/\//],
    [{ LOOKOUT_BACKUP_DATABASES: 'audit=postgres://db/a,audit=postgres://db/b' }, /names audit twice/],
    [{ LOOKOUT_BACKUP_DIR: '' }, /LOOKOUT_BACKUP_DIR must name/],
    [{ LOOKOUT_BACKUP_SCHEDULE: '2:30' }, /HH:MM/],
    [{ LOOKOUT_BACKUP_SCHEDULE: '0 2 * * *' }, /HH:MM/],
    [{ LOOKOUT_BACKUP_KEEP_DAILY: '-1' }, /LOOKOUT_BACKUP_KEEP_DAILY must be a whole number/],
    [{ LOOKOUT_BACKUP_KEEP_DAILY: '0', LOOKOUT_BACKUP_KEEP_WEEKLY: '0', LOOKOUT_BACKUP_KEEP_MONTHLY: '0' }, /all 0/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'Backups' }, /LOOKOUT_BACKUP_S3_BUCKET must be a bucket name/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'b' }, /LOOKOUT_BACKUP_S3_BUCKET must be a bucket name/],
    [{ LOOKOUT_BACKUP_S3_ENDPOINT: 'http://minio:9000' }, /LOOKOUT_BACKUP_S3_ENDPOINT set without LOOKOUT_BACKUP_S3_BUCKET/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'backups', LOOKOUT_BACKUP_S3_PREFIX: 'lookout' }, /LOOKOUT_BACKUP_S3_PREFIX must be a key prefix ending with \//],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'backups', LOOKOUT_BACKUP_S3_PREFIX: '/lookout/' }, /LOOKOUT_BACKUP_S3_PREFIX must be a key prefix/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'backups', LOOKOUT_BACKUP_S3_ENDPOINT: 'minio:9000' }, /LOOKOUT_BACKUP_S3_ENDPOINT must be an http:\/\/ or https:\/\/ URL/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'backups', LOOKOUT_BACKUP_S3_REGION: 'EU West' }, /LOOKOUT_BACKUP_S3_REGION must be a region name/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'backups', LOOKOUT_BACKUP_S3_FORCE_PATH_STYLE: 'yes' }, /LOOKOUT_BACKUP_S3_FORCE_PATH_STYLE must be true or false/],
    [{ LOOKOUT_BACKUP_S3_BUCKET: 'backups', LOOKOUT_BACKUP_S3_ACCESS_KEY_ID: 'AKIA' }, /LOOKOUT_BACKUP_S3_ACCESS_KEY_ID: not a backup setting .*\(AWS_ACCESS_KEY_ID,/],
  ] as const) {
    it(`refuses ${JSON.stringify(env)}`, () => {
      assert.throws(() => loadBackupConfig({ ...BASE, ...env }), (err: Error) => err instanceof ConfigError && message.test(err.message));
    });
  }
});

describe('restore drill configuration', () => {
  it('needs the server to restore into, and may name the databases to drill', () => {
    assert.throws(() => loadDrillConfig({ LOOKOUT_BACKUP_DIR: '/b' }), /LOOKOUT_RESTORE_DRILL_DATABASE_URL must be set/);
    const config = loadDrillConfig({ LOOKOUT_BACKUP_DIR: '/b', LOOKOUT_RESTORE_DRILL_DATABASE_URL: 'postgres://postgres@127.0.0.1/postgres', LOOKOUT_RESTORE_DRILL_DATABASES: 'audit' });
    assert.deepEqual(config, { dir: '/b', databases: ['audit'], serverUrl: 'postgres://postgres@127.0.0.1/postgres', s3: undefined });
    assert.equal(loadDrillConfig({ LOOKOUT_BACKUP_DIR: '/b', LOOKOUT_RESTORE_DRILL_DATABASE_URL: 'postgres://x@y/z' }).databases, undefined);
    assert.equal(loadDrillConfig({ LOOKOUT_BACKUP_DIR: '/b', LOOKOUT_RESTORE_DRILL_DATABASE_URL: 'postgres://x@y/z', LOOKOUT_BACKUP_S3_BUCKET: 'acme-backups' }).s3?.bucket, 'acme-backups');
  });
});
