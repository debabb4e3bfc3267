// PostgreSQL: the server postgres_exporter watches (job "postgres"), its databases, and the host filesystems
// under them (the Collector's hostmetrics receiver). The alerts of stack/mixin/alerts/data.ts link to the
// panels named in its `panels`, which draw each alert's series with its threshold.
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  AxisPlacement,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
} from '@grafana/grafana-foundation-sdk/common';
import { backups, database, host } from '../mixin/config.js';
import { panels } from '../mixin/alerts/data.js';
import { recorded } from '../mixin/promql.js';
import { dashboardUids, labelVariable, lookoutDashboard, prom, size, thresholds, timeseries, upStat as upStatPanel } from './shared.js';

const job = `job="${database.job}"`;
// Per-database series are aggregated with max, not sum: each database has one series per exporter connection,
// and with --auto-discover-databases the exporter may report the server-wide views once per connection.
const perDatabase = `${job}, datname=~"$datname"`;
const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;

/** Green below `above`, red from it, drawn as a dashed line: the alert's threshold on the alert's series. */
const alertLine = (above: number) => thresholds([
  [null, 'green'],
  [above, 'red'],
]);
const dashed = () => new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed);

// Filesystem capacity = used + free + reserved (system.filesystem.usage by state), as the alerts compute it.
const filesystemUsed = (matchers: string) =>
  `sum by (device, mountpoint) (system_filesystem_usage_bytes{state="used", ${matchers}})` +
  ` / sum by (device, mountpoint) (system_filesystem_usage_bytes{${matchers}})`;

const upStat = () =>
  upStatPanel(
    panels.up,
    'pg_up: whether postgres_exporter could connect to PostgreSQL at its last scrape. DOWN means every service that stores data is failing (alert PostgresDown); no value means the exporter itself is not scraped (TargetDown).',
    prom('A', `min by (instance) (pg_up{${job}})`, '{{instance}}'),
  );

export function postgres(): DashboardBuilder {
  const { cacheHitRatio: hit, connectionsNearMax, storage, deadlocks } = database;
  return lookoutDashboard(
    dashboardUids.postgres,
    'PostgreSQL',
    'The PostgreSQL server through postgres_exporter: availability, connections against max_connections, buffer cache hit ratio, transactions, deadlocks, database and table sizes, and the host filesystems the data lives on.',
  )
    .withVariable(labelVariable('datname', 'datname', 'pg_stat_database_numbackends'))
    .withRow(new RowBuilder('Server'))
    .withPanel(upStat())
    .withPanel(
      timeseries(
        panels.connections,
        `Backends connected to all databases as a share of max_connections (pg_stat_database_numbackends / pg_settings_max_connections), per server. Above ${pct(connectionsNearMax.above)} for ${connectionsNearMax.for} alerts PostgresConnectionsNearMax; at 100% new connections fail with SQLSTATE 53300.`,
        'percentunit',
        9,
      )
        .withTarget(
          prom(
            'A',
            `sum by (instance) (pg_stat_database_numbackends{${job}}) / on (instance) max by (instance) (pg_settings_max_connections{${job}})`,
            '{{instance}}',
          ),
        )
        .thresholds(alertLine(connectionsNearMax.above))
        .thresholdsStyle(dashed())
        .min(0)
        .max(1),
    )
    .withPanel(
      timeseries(
        'Connections by database',
        'Backends connected to each selected database (pg_stat_database_numbackends), against max_connections for the whole server. One database holding most of them points at its service’s pool size or a connection leak.',
        'short',
        9,
      )
        .withTarget(prom('A', `max by (datname) (pg_stat_database_numbackends{${perDatabase}})`, '{{datname}}'))
        .withTarget(prom('B', `max (pg_settings_max_connections{${job}})`, 'max_connections'))
        .min(0),
    )
    .withRow(new RowBuilder('Activity'))
    .withPanel(
      timeseries(
        panels.cacheHit,
        `Share of block reads served from shared_buffers over ${hit.window} per database (${recorded.cacheHitRatio(hit.window)}, left axis), and all block reads per second (${recorded.blockReads(hit.window)}, right axis). PostgresCacheHitRatioLow fires below ${pct(hit.below)} for ${hit.for} when a database reads more than ${hit.minBlocksPerSecond} blocks/s: queries read from disk.`,
        'percentunit',
        size.third,
      )
        .withTarget(prom('A', `${recorded.cacheHitRatio(hit.window)}{datname=~"$datname"}`, '{{datname}} hit ratio'))
        .withTarget(prom('B', `${recorded.blockReads(hit.window)}{datname=~"$datname"}`, '{{datname}} blocks/s'))
        .overrideByQuery('B', [
          { id: 'unit', value: 'short' },
          { id: 'custom.axisPlacement', value: AxisPlacement.Right },
          { id: 'custom.fillOpacity', value: 0 },
          { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
          { id: 'custom.thresholdsStyle', value: { mode: GraphThresholdsStyleMode.Off } },
        ])
        .thresholds(
          thresholds([
            [null, 'red'],
            [hit.below, 'green'],
          ]),
        )
        .thresholdsStyle(dashed())
        .min(0),
    )
    .withPanel(
      timeseries(
        'Commits and rollbacks',
        'Transactions committed and rolled back per second per database (pg_stat_database_xact_commit, _xact_rollback). Rollbacks rising against commits mean failing requests or aborted transactions.',
        'ops',
        size.third,
      )
        .withTarget(prom('A', `max by (datname) (rate(pg_stat_database_xact_commit{${perDatabase}}[$__rate_interval]))`, '{{datname}} commits'))
        .withTarget(prom('B', `max by (datname) (rate(pg_stat_database_xact_rollback{${perDatabase}}[$__rate_interval]))`, '{{datname}} rollbacks'))
        .min(0),
    )
    .withPanel(
      timeseries(
        `Deadlocks (${deadlocks.window})`,
        `Deadlocks PostgreSQL detected per database in the preceding ${deadlocks.window} (increase of pg_stat_database_deadlocks). Should be 0: each one aborted a transaction; the server log names the statements.`,
        'short',
        size.third,
      )
        .withTarget(prom('A', `max by (datname) (increase(pg_stat_database_deadlocks{${perDatabase}}[${deadlocks.window}]))`, '{{datname}}'))
        .thresholds(
          thresholds([
            [null, 'green'],
            [1, 'red'],
          ]),
        )
        .min(0),
    )
    .withRow(new RowBuilder('Storage'))
    .withPanel(
      timeseries(
        panels.databaseVolume,
        `All databases’ size (pg_database_size_bytes, summed) as a share of the capacity of the filesystem at ${database.dataMountpoint} (system_filesystem_usage_bytes, all states). Above ${pct(storage.above)} for ${storage.for} alerts PostgresStorageNearlyFull; at 100% every write fails.`,
        'percentunit',
      )
        .withTarget(
          prom(
            'A',
            `sum (pg_database_size_bytes{${job}}) / on () group_left () max (sum by (mountpoint) (system_filesystem_usage_bytes{mountpoint="${database.dataMountpoint}"}))`,
            'databases / volume',
          ),
        )
        .thresholds(alertLine(storage.above))
        .thresholdsStyle(dashed())
        .min(0)
        .max(1),
    )
    .withPanel(
      timeseries(
        panels.filesystems,
        `Share of each host filesystem in use (system_filesystem_usage_bytes used / used + free + reserved, job ${host.job}), per mount point. Above ${pct(host.storage.above)} for ${host.storage.for} alerts HostFilesystemNearlyFull.`,
        'percentunit',
      )
        .withTarget(prom('A', filesystemUsed(`job="${host.job}"`), '{{mountpoint}} ({{device}})'))
        .thresholds(alertLine(host.storage.above))
        .thresholdsStyle(dashed())
        .min(0)
        .max(1),
    )
    .withPanel(
      timeseries(
        'Database sizes',
        'On-disk size of each selected database (pg_database_size_bytes). A steady climb with no matching traffic points at bloat (see dead rows) or a retention job that stopped.',
        'bytes',
        size.third,
      ).withTarget(prom('A', `max by (datname) (pg_database_size_bytes{${perDatabase}})`, '{{datname}}')),
    )
    .withPanel(
      timeseries(
        'Largest tables',
        'The 10 largest tables (partitions count as tables), indexes and TOAST included (pg_stat_user_tables_total_size_bytes, from postgres-exporter/queries.yaml; audit and runs databases only).',
        'bytes',
        size.third,
      ).withTarget(
        prom('A', `topk(10, max by (datname, schemaname, relname) (pg_stat_user_tables_total_size_bytes{${perDatabase}}))`, '{{datname}} {{schemaname}}.{{relname}}'),
      ),
    )
    .withPanel(
      timeseries(
        'Dead rows',
        'The 10 tables with the most dead rows waiting for vacuum (pg_stat_user_tables_n_dead_tup). A count that only grows means autovacuum is not keeping up or a long transaction holds it back.',
        'short',
        size.third,
      ).withTarget(
        prom('A', `topk(10, max by (datname, schemaname, relname) (pg_stat_user_tables_n_dead_tup{${perDatabase}}))`, '{{datname}} {{schemaname}}.{{relname}}'),
      ),
    )
    .withRow(new RowBuilder('Backups'))
    .withPanel(
      timeseries(
        panels.backupAge,
        `Time since the newest successful backup of each database (time() minus lookout_backup_last_success_seconds from the backup service). Backups run daily; BackupMissing fires past ${backups.missingAfterHours}h.`,
        's',
        size.third,
      )
        .withTarget(prom('A', `time() - max by (database) (max_over_time(lookout_backup_last_success_seconds[${backups.lookBack}]))`, '{{database}}'))
        .thresholds(
          thresholds([
            [null, 'green'],
            [backups.missingAfterHours * 3600, 'red'],
          ]),
        )
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed)),
    )
    .withPanel(
      timeseries('Backup size and duration', 'Size of the newest dump (custom format, compressed) and how long it took, per database: a sudden drop in size is worth a look.', 'bytes', size.third)
        .withTarget(prom('A', 'max by (database) (lookout_backup_size_bytes)', '{{database}} size'))
        .withTarget(prom('B', 'max by (database) (rate(lookout_backup_duration_seconds_sum[1d]) / rate(lookout_backup_duration_seconds_count[1d]))', '{{database}} duration (s)'))
        .overrideByName('B', [{ id: 'unit', value: 's' }]),
    )
    .withPanel(
      timeseries(
        panels.backupFailures,
        'Failed backup steps per database and reason (lookout_backup_failures_total: dump, storage, upload, restore, check), and the restore drill\'s last restore time (lookout_backup_restore_duration_seconds). BackupFailed fires on any failure.',
        'short',
        size.third,
      )
        .withTarget(prom('A', 'sum by (database, reason) (increase(lookout_backup_failures_total[$__rate_interval]))', '{{database}} {{reason}}'))
        .withTarget(prom('B', 'max by (database) (lookout_backup_restore_duration_seconds)', '{{database}} restore (s)'))
        .min(0),
    );
}
