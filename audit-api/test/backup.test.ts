// Backup and restore as docs/audit-api.md describes them: pg_dump to plain SQL, psql into an empty
// database, then the restored copy serves the same events through the API.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, type TestDatabase, token } from '@lookout/testkit';
import { startTestService } from './fixtures/service.js';

const run = promisify(execFile);
const SCRIPTS = fileURLToPath(new URL('../scripts/', import.meta.url));

describe('backup and restore (pg_dump, psql)', function () {
  let source: TestDatabase;
  let target: TestDatabase;
  let dir: string;

  before(async () => {
    source = await createTestDatabase();
    target = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'audit-backup-'));
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await source?.drop();
    await target?.drop();
  });

  it('restores every event, partitions included, and the restored database serves them unchanged', async () => {
    const svc = await startTestService(source.url);
    const tok = await token({ tenant: 'tenant-k', scope: 'activity:write activity:read' });
    const events = ['2026-08-10T00:00:00Z', '2026-10-10T00:00:00Z', new Date().toISOString()].map((occurred_at, i) => ({
      action: 'storage.file.deleted',
      status: 'success',
      occurred_at,
      actor: { type: 'user', id: `k${i}` },
      metadata: { file_id: `f${i}` },
    }));
    assert.equal((await call(svc.url, 'POST', '/api/v1/activity/batch', { token: tok, body: { events } })).status, 201);
    const before = (await call(svc.url, 'GET', '/api/v1/activity?limit=500', { token: tok })).body.data;
    await svc.stop();

    const file = join(dir, 'audit.sql');
    await run(join(SCRIPTS, 'backup.sh'), [file], { env: { ...process.env, DATABASE_URL: source.url } });
    await run(join(SCRIPTS, 'restore.sh'), [file], { env: { ...process.env, DATABASE_URL: target.url } });

    const restored = await startTestService(target.url);
    try {
      const after = (await call(restored.url, 'GET', '/api/v1/activity?limit=500', { token: tok })).body.data;
      assert.equal(after.length, 3);
      assert.deepEqual(after, before);
      // The sequence continues past the restored rows: new writes do not collide.
      assert.equal((await call(restored.url, 'POST', '/api/v1/activity', { token: tok, body: events[2] })).status, 201);
    } finally {
      await restored.stop();
    }
  });
});
