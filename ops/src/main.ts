// The backup service: at start, a backup round unless every database has one from today (UTC) (with S3
// configured, one the bucket has too: reportExisting uploads it when it is missing there); then one round a
// day at LOOKOUT_BACKUP_SCHEDULE. Run with the agent preloaded: its metrics feed BackupMissing and
// BackupFailed. SIGTERM stops a running pg_dump (its partial file is removed) and ends the process.
import { backUpAll, reportExisting } from './backup.js';
import { removeLeftovers } from './catalog.js';
import { runCommand } from './command.js';
import { loadBackupConfig } from './config.js';
import { createBackupMetrics } from './metrics.js';
import { S3Target } from './s3-target.js';
import { nextRun, sameUtcDay } from './schedule.js';

runCommand('backup', () => loadBackupConfig(), async (config, logger) => {
  const metrics = createBackupMetrics();
  const s3 = config.s3 && new S3Target(config.s3);
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stop = (signal: string) => {
    logger.info('shutting down', { signal });
    stopping.abort();
    clearTimeout(timer);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  for (const { name } of config.databases) {
    const removed = await removeLeftovers(config.dir, name);
    if (removed.length > 0) logger.warn('removed what an interrupted backup left', { database: name, removed });
  }
  const newest = await reportExisting(config, { metrics, logger, s3 });
  const round = async () => {
    const results = await backUpAll(config, { metrics, logger, s3, signal: stopping.signal });
    for (const r of results) if (r.manifest && !r.error) newest.set(r.database, new Date(r.manifest.startedAt));
  };
  const now = new Date();
  logger.info('backup service started', { databases: config.databases.map((d) => d.name), dir: config.dir, s3: s3?.location, retention: config.retention });
  if (config.databases.some(({ name }) => !newest.has(name) || !sameUtcDay(newest.get(name)!, now))) await round();

  const scheduleNext = () => {
    if (stopping.signal.aborted) return;
    const at = nextRun(new Date(), config.scheduleMinutes);
    logger.info('next backup scheduled', { at: at.toISOString() });
    timer = setTimeout(() => void round().then(scheduleNext), at.getTime() - Date.now());
  };
  scheduleNext();
});
