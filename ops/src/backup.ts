// One backup round: every configured database dumped in turn, uploaded to S3 when configured, its metrics
// recorded, then the retention policy applied to its folder (and to its objects in S3). One database failing
// does not stop the others. A backup counts as a success (lookout.backup.last_success) only once every
// configured target has it: when the off-site copy stops, BackupMissing fires even though the volume has one.
import { join } from 'node:path';
import { applyRetention } from './retention.js';
import { backupIn, listBackups, removeBackup, type Backup } from './catalog.js';
import type { Logger } from './command.js';
import type { BackupConfig } from './config.js';
import { BackupError, dumpDatabase, type Manifest } from './dump.js';
import type { BackupMetrics } from './metrics.js';
import type { S3Target } from './s3-target.js';

export interface RoundResult {
  database: string;
  /** Set when the backup is on the volume, even if its upload failed (then `error` is set too). */
  manifest?: Manifest;
  error?: BackupError;
  removed: string[];
}

export interface BackupDeps {
  metrics: BackupMetrics;
  logger: Logger;
  /** The off-site copy, when LOOKOUT_BACKUP_S3_BUCKET is set. */
  s3?: S3Target | undefined;
  signal?: AbortSignal;
}

function recordSuccess(metrics: BackupMetrics, manifest: Manifest): void {
  const attributes = { database: manifest.database };
  metrics.lastSuccess.record(Date.parse(manifest.finishedAt) / 1000, attributes);
  metrics.size.record(manifest.sizeBytes, attributes);
}

function recordFailure(deps: BackupDeps, database: string, message: string, error: BackupError): void {
  deps.metrics.failures.add(1, { database, reason: error.reason });
  deps.logger.error(message, { database, reason: error.reason, error: error.message });
}

/** Uploads a backup made on the volume; returns the error (counted and logged) when S3 does not have it. */
async function uploadBackup(backup: Backup, deps: BackupDeps & { s3: S3Target }): Promise<BackupError | undefined> {
  const database = backup.manifest.database;
  try {
    const keys = await deps.s3.upload(backup, deps.signal);
    deps.logger.info('backup uploaded', { database, bucket: deps.s3.config.bucket, ...keys });
    return undefined;
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    const error = err instanceof BackupError ? err : new BackupError('upload', (err as Error).message);
    // The copy on the volume stays: only the off-site one is missing.
    recordFailure(deps, database, 'backup upload failed', error);
    return error;
  }
}

/**
 * Reports the newest backups already on disk, so a restarted service does not look as if none were made;
 * with S3 configured, the newest is uploaded first when the bucket does not have it (an upload that failed
 * before the restart), and reported only once it is there. Returns the databases' newest complete backups.
 */
export async function reportExisting(config: BackupConfig, deps: BackupDeps): Promise<Map<string, Date>> {
  const newest = new Map<string, Date>();
  for (const { name } of config.databases) {
    const [latest] = await listBackups(config.dir, name);
    if (!latest) continue;
    if (deps.s3) {
      const present = await deps.s3.has(latest).catch((err: BackupError) => {
        recordFailure(deps, name, 'backup upload failed', err);
        return undefined;
      });
      if (present === undefined) continue;
      if (!present && (await uploadBackup(latest, { ...deps, s3: deps.s3 }))) continue;
    }
    recordSuccess(deps.metrics, latest.manifest);
    newest.set(name, latest.takenAt);
  }
  return newest;
}

export async function backUpAll(config: BackupConfig, deps: BackupDeps): Promise<RoundResult[]> {
  const { metrics, logger, s3 } = deps;
  const results: RoundResult[] = [];
  for (const target of config.databases) {
    if (deps.signal?.aborted) break;
    const attributes = { database: target.name };
    const started = performance.now();
    let manifest: Manifest;
    try {
      manifest = await dumpDatabase(target, config.dir, { signal: deps.signal });
    } catch (err) {
      if (deps.signal?.aborted) {
        // Shutting down: nothing failed, and the next start makes the backup this round did not finish.
        logger.warn('backup interrupted by shutdown', { database: target.name });
        break;
      }
      const error = err instanceof BackupError ? err : new BackupError('storage', (err as Error).message);
      recordFailure(deps, target.name, 'backup failed', error);
      results.push({ database: target.name, error, removed: [] });
      continue;
    }
    metrics.duration.record((performance.now() - started) / 1000, attributes);
    logger.info('backup finished', { database: target.name, file: manifest.file, size_bytes: manifest.sizeBytes, duration_s: manifest.durationSeconds, tables: manifest.tables });
    const result: RoundResult = { database: target.name, manifest, removed: [] };
    results.push(result);
    if (s3) {
      try {
        result.error = await uploadBackup(backupIn(join(config.dir, target.name), manifest), { ...deps, s3 });
      } catch {
        logger.warn('backup upload interrupted by shutdown', { database: target.name });
        break;
      }
    }
    if (!result.error) recordSuccess(metrics, manifest);

    try {
      const { remove } = applyRetention(await listBackups(config.dir, target.name), config.retention);
      for (const old of remove) {
        await removeBackup(old);
        result.removed.push(old.manifest.file);
      }
      if (result.removed.length > 0) logger.info('old backups removed', { database: target.name, removed: result.removed });
    } catch (err) {
      // The backup is made; a disk that fills up because old copies stay is still worth a BackupFailed.
      recordFailure(deps, target.name, 'removing old backups failed', new BackupError('storage', (err as Error).message));
    }
    // Only after an upload that worked: the bucket's newest copy is then this one, which retention keeps.
    if (s3 && !result.error) {
      try {
        const removed = await s3.applyRetention(target.name, config.retention);
        if (removed.length > 0) logger.info('old backups removed from S3', { database: target.name, bucket: s3.config.bucket, removed });
      } catch (err) {
        recordFailure(deps, target.name, 'removing old backups from S3 failed', err as BackupError);
      }
    }
  }
  return results;
}
