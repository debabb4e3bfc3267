// The restore drill for one database: the newest backup's checksum verified, restored with pg_restore into a
// scratch database, checked (checks.ts), the restore time recorded, and the scratch copy dropped whatever happened.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from './command.js';
import type { Backup } from './catalog.js';
import { checkRestored, type CheckResult } from './checks.js';
import { libpqConnection, runPgTool, sha256 } from './dump.js';
import type { BackupMetrics } from './metrics.js';

export interface DrillResult {
  database: string;
  file: string;
  scratch: string;
  restoreSeconds?: number;
  checks: CheckResult[];
  ok: boolean;
}

/** Runs one statement on the drill server's maintenance connection. */
async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, application_name: 'lookout-restore-drill' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function drillDatabase(backup: Backup, serverUrl: string, deps: { metrics: BackupMetrics; logger: Logger }): Promise<DrillResult> {
  const database = backup.manifest.database;
  const scratch = `lookout_drill_${database}_${randomBytes(4).toString('hex')}`;
  const result: DrillResult = { database, file: backup.manifest.file, scratch, checks: [], ok: false };
  const fail = (reason: 'restore' | 'check') => deps.metrics.failures.add(1, { database, reason });

  const actual = await sha256(backup.dumpPath);
  result.checks.push({ check: 'checksum', ok: actual === backup.manifest.sha256, detail: `sha256 ${actual}${actual === backup.manifest.sha256 ? '' : `, manifest says ${backup.manifest.sha256}`}` });
  if (!result.checks[0]!.ok) {
    fail('check');
    return result;
  }

  const url = new URL(serverUrl);
  url.pathname = `/${scratch}`;
  let created = false;
  try {
    await admin(serverUrl, `create database ${scratch}`);
    created = true;
    const { dbname, env } = libpqConnection(url.toString());
    const started = performance.now();
    // --no-owner/--no-privileges: the scratch copy belongs to the drill's login, whoever owned the original.
    await runPgTool('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--no-password', `--dbname=${dbname}`, backup.dumpPath], env);
    result.restoreSeconds = (performance.now() - started) / 1000;
    deps.metrics.restoreDuration.record(result.restoreSeconds, { database });
    deps.logger.info('backup restored', { database, file: result.file, scratch, restore_s: result.restoreSeconds });
  } catch (err) {
    result.checks.push({ check: 'restore', ok: false, detail: (err as Error).message });
    fail('restore');
    await dropScratch();
    return result;
  }
  try {
    result.checks.push(...(await checkRestored(database, url.toString(), backup.manifest)));
  } catch (err) {
    result.checks.push({ check: 'checks', ok: false, detail: (err as Error).message });
  } finally {
    await dropScratch();
  }
  result.ok = result.checks.every((c) => c.ok);
  if (!result.ok) fail('check');
  return result;

  async function dropScratch(): Promise<void> {
    if (!created) return;
    // force: a check that left a connection open must not keep the copy alive.
    await admin(serverUrl, `drop database if exists ${scratch} with (force)`).catch((err: Error) =>
      deps.logger.error('could not drop the scratch database', { database, scratch, error: err.message }),
    );
  }
}
