// The backups' instruments, through the OpenTelemetry API: the preloaded agent exports them; without it they
// are no-ops. Names follow DESIGN.md (lookout.<component>.<thing>, with a unit); catalogue in docs/metrics.md.
import { metrics, type Counter, type Gauge, type Histogram } from '@opentelemetry/api';

export type BackupFailureReason = 'dump' | 'storage' | 'upload' | 'restore' | 'check';

export interface BackupMetrics {
  /** Unix time (s) of the newest complete backup, per `database`: on the volume and, when configured, in S3. */
  lastSuccess: Gauge;
  duration: Histogram;
  /** Bytes of the newest complete backup's dump file, per `database`. */
  size: Gauge;
  /**
   * Per `database` and `reason`: dump (pg_dump failed), storage (writing the file), upload (the S3 copy: its
   * upload, check, listing or retention), restore, check (the drill).
   */
  failures: Counter;
  /** Seconds the restore drill took to restore the newest backup, per `database`. */
  restoreDuration: Gauge;
}

export function createBackupMetrics(): BackupMetrics {
  const meter = metrics.getMeter('@lookout/ops');
  return {
    lastSuccess: meter.createGauge('lookout.backup.last_success', { unit: 's', description: 'Unix time of the newest complete backup of the database.' }),
    duration: meter.createHistogram('lookout.backup.duration', {
      unit: 's',
      description: 'Time to dump one database, from connecting to the renamed file.',
      advice: { explicitBucketBoundaries: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200] },
    }),
    size: meter.createGauge('lookout.backup.size', { unit: 'By', description: "Size of the newest complete backup's dump file." }),
    failures: meter.createCounter('lookout.backup.failures', { unit: '{backup}', description: 'Backups or restore drills that failed, by database and reason.' }),
    restoreDuration: meter.createGauge('lookout.backup.restore.duration', { unit: 's', description: 'Time the restore drill took to restore the newest backup into a scratch database.' }),
  };
}
