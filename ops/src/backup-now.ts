// `./lookout backup`: one backup round now, for machines without Docker (or a cron job). Exit code 0 when
// every database was backed up (and uploaded, with S3 configured), 1 when one failed, 2 on a configuration error; the agent, preloaded,
// exports the metrics before the process ends.
import { backUpAll } from './backup.js';
import { runCommand } from './command.js';
import { loadBackupConfig } from './config.js';
import { createBackupMetrics } from './metrics.js';
import { S3Target } from './s3-target.js';

runCommand('backup', () => loadBackupConfig(), async (config, logger) => {
  const s3 = config.s3 && new S3Target(config.s3);
  const results = await backUpAll(config, { metrics: createBackupMetrics(), logger, s3 }).finally(() => s3?.destroy());
  if (results.some((r) => r.error)) process.exitCode = 1;
});
