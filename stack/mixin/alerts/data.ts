// PostgreSQL (postgres_exporter, job "postgres") and the hosts' filesystems (the Collector's hostmetrics
// receiver, job "lookout/host"). `service` is "postgres" and "host", so routing and inhibition treat
// them like any service.
import { backups, dashboardUids, database, host } from '../config.js';
import { asJobService, asService, recorded } from '../promql.js';
import type { AlertRule, RuleGroup } from '../rules.js';

export const panels = {
  up: 'PostgreSQL up',
  connections: 'Connections vs max',
  cacheHit: `Cache hit ratio (${database.cacheHitRatio.window})`,
  databaseVolume: 'Database size vs volume',
  filesystems: 'Filesystem usage',
  backupAge: 'Backups: age of the newest',
  backupFailures: 'Backup failures',
} as const;

const postgresDashboard = (panel: string, vars: Record<string, string> = {}) => ({ uid: dashboardUids.postgres, panel, vars });
const asPostgres = (expr: string) => `label_replace(${expr}, "service", "${database.job}", "", "")`;
const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;

// Filesystem capacity = used + free + reserved (system.filesystem.usage by state).
const filesystemUsed = (matchers: string) =>
  `sum by (job, device, mountpoint) (system_filesystem_usage_bytes{state="used"${matchers}})\n/\nsum by (job, device, mountpoint) (system_filesystem_usage_bytes{${matchers.replace(/^, /, '')}})`;

function postgresAlerts(): AlertRule[] {
  const hit = database.cacheHitRatio;
  return [
    {
      alert: 'PostgresDown',
      why: 'pg_up is the exporter\'s own connection to the server; the exporter being down is TargetDown.',
      expr: `${asPostgres(`pg_up{job="${database.job}"}`)} == 0`,
      for: '1m',
      severity: 'critical',
      summary: 'PostgreSQL {{ $labels.instance }} is down',
      description: 'postgres_exporter has not been able to connect to PostgreSQL ({{ $labels.instance }}) for 1 minute: every service that stores data is failing.',
      value: 'down',
      dashboard: postgresDashboard(panels.up),
    },
    {
      alert: 'PostgresConnectionsNearMax',
      expr: `${asPostgres(`sum by (job, instance) (pg_stat_database_numbackends{job="${database.job}"})\n/ on (job, instance)\nmax by (job, instance) (pg_settings_max_connections{job="${database.job}"})`)} > ${database.connectionsNearMax.above}`,
      for: database.connectionsNearMax.for,
      severity: 'warning',
      summary: 'PostgreSQL {{ $labels.instance }}: {{ $value | humanizePercentage }} of max_connections in use',
      description: `More than ${pct(database.connectionsNearMax.above)} of PostgreSQL's max_connections have been in use for ${database.connectionsNearMax.for} (now {{ $value | humanizePercentage }}); new connections will soon be refused (SQLSTATE 53300).`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: postgresDashboard(panels.connections),
    },
    {
      alert: 'PostgresCacheHitRatioLow',
      why: `Below ${pct(hit.below)} of block reads served from shared_buffers; only for databases reading more than ${hit.minBlocksPerSecond} blocks/s, so an idle database's few cold reads stay quiet.`,
      expr: asPostgres(`${recorded.cacheHitRatio(hit.window)} < ${hit.below}\nand\n${recorded.blockReads(hit.window)} > ${hit.minBlocksPerSecond}`),
      for: hit.for,
      severity: 'warning',
      summary: 'PostgreSQL database {{ $labels.datname }}: cache hit ratio {{ $value | humanizePercentage }}',
      description: `Only {{ $value | humanizePercentage }} of database {{ $labels.datname }}'s block reads came from shared_buffers over ${hit.window} (threshold ${pct(hit.below)}): queries read from disk; shared_buffers may be too small or a query scans too much.`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: postgresDashboard(panels.cacheHit, { datname: '{{ $labels.datname }}' }),
    },
    {
      alert: 'PostgresStorageNearlyFull',
      why: `The databases' total size against the capacity of the filesystem holding the data volume (mounted at ${database.dataMountpoint}).`,
      expr: `${asPostgres(`sum by (job) (pg_database_size_bytes{job="${database.job}"})\n/ on () group_left ()\nmax (sum by (mountpoint) (system_filesystem_usage_bytes{mountpoint="${database.dataMountpoint}"}))`)} > ${database.storage.above}`,
      for: database.storage.for,
      severity: 'critical',
      summary: 'PostgreSQL databases fill {{ $value | humanizePercentage }} of their volume',
      description: `PostgreSQL's databases have taken more than ${pct(database.storage.above)} of the volume at ${database.dataMountpoint} for ${database.storage.for} (now {{ $value | humanizePercentage }}); at 100% every write, the audit trail's included, fails.`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: postgresDashboard(panels.databaseVolume),
    },
  ];
}

function hostAlerts(): AlertRule[] {
  return [
    {
      alert: 'HostFilesystemNearlyFull',
      expr: `${asJobService(filesystemUsed(`, job="${host.job}"`))} > ${host.storage.above}`,
      for: host.storage.for,
      severity: 'critical',
      summary: '{{ $labels.mountpoint }} is {{ $value | humanizePercentage }} full',
      description: `The filesystem at {{ $labels.mountpoint }} ({{ $labels.device }}) has been more than ${pct(host.storage.above)} full for ${host.storage.for} (now {{ $value | humanizePercentage }}).`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: postgresDashboard(panels.filesystems),
    },
  ];
}

function backupAlerts(): AlertRule[] {
  const last = 'lookout_backup_last_success_seconds';
  const failures = 'lookout_backup_failures_total';
  const limit = backups.missingAfterHours * 3600;
  return [
    {
      alert: 'BackupMissing',
      why: [
        `No successful backup of a database for ${backups.missingAfterHours}h: the newest success within ${backups.lookBack} (a stopped service leaves`,
        'its last timestamp behind), or, for a database that has none in that time, the series absent altogether.',
      ].join('\n'),
      expr: [
        `(time() - max by (service, database) (${asService(`max_over_time(${last}[${backups.lookBack}])`)})) > ${limit}`,
        ...backups.databases.map((name) => `or\nlabel_replace(absent_over_time(${last}{database="${name}"}[${backups.lookBack}]), "service", "backup", "", "")`),
      ].join('\n'),
      for: '0m',
      severity: 'warning',
      summary: `no successful backup of database {{ $labels.database }} in ${backups.missingAfterHours}h`,
      description: `The newest successful backup of database {{ $labels.database }} is older than ${backups.missingAfterHours}h (or there is none in ${backups.lookBack}): the backup service is down, failing, or its schedule stopped.`,
      value: 'missing',
      dashboard: { uid: dashboardUids.postgres, panel: panels.backupAge, vars: {} },
    },
    {
      alert: 'BackupFailed',
      why: 'Any failed dump, upload, restore or drill check. A brand-new failure series (the first failure since a start) has no increase yet, so a series that did not exist an hour ago counts too.',
      expr: [
        `sum by (service, database, reason) (${asService(`increase(${failures}[${backups.failedWindow}])`)}) > 0`,
        'or',
        `sum by (service, database, reason) (${asService(`${failures} unless ${failures} offset ${backups.failedWindow}`)}) > 0`,
      ].join('\n'),
      for: '0m',
      severity: 'warning',
      summary: 'backup of database {{ $labels.database }} failed ({{ $labels.reason }})',
      description: `A backup step failed for database {{ $labels.database }} in the last ${backups.failedWindow} (reason {{ $labels.reason }}: dump, storage, upload, restore or check); the newest good copy is older than it should be.`,
      value: '{{ $labels.reason }}',
      dashboard: { uid: dashboardUids.postgres, panel: panels.backupFailures, vars: {} },
    },
  ];
}

export const dataAlertGroups = (): Array<RuleGroup<AlertRule>> => [
  { name: 'lookout-postgres-alerts', rules: postgresAlerts() },
  { name: 'lookout-host-alerts', rules: hostAlerts() },
  { name: 'lookout-backup-alerts', rules: backupAlerts() },
];
