// `./lookout restore-drill`: restores the newest backup of each database into a scratch database on
// LOOKOUT_RESTORE_DRILL_DATABASE_URL's server, checks it, drops it. The backups are read from the volume;
// with LOOKOUT_BACKUP_S3_BUCKET set, a database that has none there is drilled from the newest complete
// backup in S3, downloaded to a temporary directory. Exit code 0 when every drill passed, 1 when one failed
// or a database has no backup, 2 on a configuration error. Preloaded with the agent, it exports
// lookout.backup.restore.duration and failures before the process ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backedUpDatabases, listBackups, type Backup } from './catalog.js';
import { runCommand } from './command.js';
import { loadDrillConfig } from './config.js';
import { drillDatabase } from './drill.js';
import { createBackupMetrics } from './metrics.js';
import { S3Target } from './s3-target.js';

runCommand('restore-drill', () => loadDrillConfig(), async (config, logger) => {
  const metrics = createBackupMetrics();
  const s3 = config.s3 && new S3Target(config.s3);
  const failed = (database: string, message: string, detail: Record<string, unknown>) => {
    metrics.failures.add(1, { database, reason: 'restore' });
    logger.error(message, { database, ...detail });
    process.exitCode = 1;
  };
  try {
    let databases = config.databases ?? (await backedUpDatabases(config.dir));
    if (!config.databases && s3) {
      const remote = await s3.databases().catch((err: Error) => {
        logger.error('could not list the backups in S3', { location: s3.location, error: err.message });
        process.exitCode = 1;
        return [];
      });
      databases = [...new Set([...databases, ...remote])].sort();
    }
    if (databases.length === 0) {
      logger.error('no backups to drill', { dir: config.dir, s3: s3?.location });
      process.exitCode = 1;
      return;
    }
    for (const database of databases) {
      let [newest]: (Backup | undefined)[] = await listBackups(config.dir, database);
      let downloaded: string | undefined;
      if (!newest && s3) {
        try {
          const remote = (await s3.list(database)).find((b) => b.dumpKey && b.manifestKey);
          if (remote) {
            downloaded = await mkdtemp(join(tmpdir(), 'lookout-drill-'));
            newest = await s3.download(remote, downloaded);
            logger.info('drilling the newest backup in S3: the volume has none', { database, location: s3.location, file: newest.manifest.file });
          }
        } catch (err) {
          failed(database, 'restore drill failed: the backup in S3 could not be read', { location: s3.location, error: (err as Error).message });
          if (downloaded) await rm(downloaded, { recursive: true, force: true });
          continue;
        }
      }
      if (!newest) {
        failed(database, 'restore drill failed: no backup', { dir: config.dir, s3: s3?.location });
        continue;
      }
      try {
        const result = await drillDatabase(newest, config.serverUrl, { metrics, logger });
        logger.log(result.ok ? 'info' : 'error', result.ok ? 'restore drill passed' : 'restore drill failed', { ...result, ...(downloaded ? { from: s3!.location } : {}) });
        if (!result.ok) process.exitCode = 1;
      } finally {
        if (downloaded) await rm(downloaded, { recursive: true, force: true });
      }
    }
  } finally {
    s3?.destroy();
  }
});
