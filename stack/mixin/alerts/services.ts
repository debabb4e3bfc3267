// What the services we ship depend on: their probes, their database connections, their queues and work,
// and the audit API's own write and stream path.
import { audit, dashboardUids, database, probes, workloads, type Duration, type ProbeTier } from '../config.js';
import { anyComponent, asService, recorded, serviceRate } from '../promql.js';
import type { AlertRule, RuleGroup } from '../rules.js';

export const panels = {
  probeStatus: 'Probe status',
  connectionFailures: 'Database connection failures',
  poolPending: 'Pool requests waiting',
  queueDepth: 'Queue depth',
  processingFailures: 'Processing failures',
  writeFailures: 'Write failures by reason',
  streamLag: `Stream lag p${Math.round(audit.streamLag.quantile * 100)}`,
} as const;

const servicesWhere = (predicate: (s: { tier: ProbeTier; auth: boolean }) => boolean): string =>
  Object.entries(probes.services)
    .filter(([, s]) => predicate(s))
    .map(([name]) => name)
    .sort()
    .join('|');

const probeFailing = (job: string, services: string) => `probe_success{job="${job}", service=~"${services}"} == 0`;
// A service that does not answer at all fails every probe: only its *ServiceDown alert should say so (a
// critical "cannot reach its database" would be wrong, and would inhibit the service's warnings). So these
// alerts need a *successful* /health probe beside them, not merely no failed one: before a service's first
// /health probe (the jobs' cadences differ) there is no sample to subtract, and a dead service paged as a
// database problem (seen in CI).
const whileAnswering = (expr: string) => `${expr}\nand on (service)\nprobe_success{job="${probes.jobs.health}"} == 1`;
const overview = (panel: string) => ({ uid: dashboardUids.serviceOverview, panel });
const runtime = (panel: string) => ({ uid: dashboardUids.runtime, panel });

function probeAlerts(): AlertRule[] {
  // A tier with no service gets no alert: its matcher would be service=~"", which matches exactly the probes
  // that carry no service label (and no service of the tier), so it would page with an empty service.
  const down = (alert: string, services: string, severity: AlertRule['severity'], who: string, why?: string): AlertRule[] =>
    services === ''
      ? []
      : [
          {
            alert,
            ...(why ? { why } : {}),
            expr: probeFailing(probes.jobs.health, services),
            for: probes.for,
            severity,
            summary: `{{ $labels.service }}: ${who} is down`,
            description: `{{ $labels.service }}'s GET /health has failed every probe for ${probes.for} ({{ $labels.instance }}): the service is not answering.`,
            value: 'down',
            dashboard: overview(panels.probeStatus),
          },
        ];
  return [
    ...down(
      'AuthServiceDown',
      servicesWhere((s) => s.auth),
      'critical',
      'a service that checks credentials',
      'Services that check credentials (API keys at the gateway, tokens at the audit API): down, every authenticated call fails.',
    ),
    ...down('PublicServiceDown', servicesWhere((s) => s.tier === 'public' && !s.auth), 'critical', 'a public service'),
    ...down('InternalServiceDown', servicesWhere((s) => s.tier === 'internal'), 'warning', 'an internal service'),
    {
      alert: 'ServiceDatabaseCheckFailing',
      why: 'GET /health/db answers 503 when the service answers but cannot reach its database; no traffic is needed to notice.',
      expr: whileAnswering(probeFailing(probes.jobs.db, servicesWhere(() => true))),
      for: probes.for,
      severity: 'critical',
      summary: '{{ $labels.service }}: cannot reach its database',
      description: `{{ $labels.service }}'s GET /health/db has failed for ${probes.for} ({{ $labels.instance }}): its database is down or unreachable from it.`,
      value: 'failing',
      dashboard: overview(panels.probeStatus),
    },
    {
      alert: 'ServiceDependencyCheckFailing',
      why: 'GET /health/dependencies answers 503 when a required dependency is down; the dependency itself alerts too.',
      expr: whileAnswering(probeFailing(probes.jobs.dependencies, servicesWhere(() => true))),
      for: probes.for,
      severity: 'warning',
      summary: '{{ $labels.service }}: a required dependency is down',
      description: `{{ $labels.service }}'s GET /health/dependencies has reported a required dependency down for ${probes.for} ({{ $labels.instance }}).`,
      value: 'failing',
      dashboard: overview(panels.probeStatus),
    },
  ];
}

/** Failed connection attempts and calls failing to connect, per service: one rate() per metric, tagged apart. */
export function connectionFailures(window: Duration): string {
  const failed = `error_type=~"${database.connectionErrorTypes}"`;
  return `sum by (service) (\n  ${asService(`label_replace(rate(db_client_connection_create_time_seconds_count{${failed}}[${window}]), "part", "connect", "", "")`)}\n  or\n  ${asService(`label_replace(rate(db_client_operation_duration_seconds_count{${failed}}[${window}]), "part", "call", "", "")`)}\n)`;
}

function databaseAlerts(): AlertRule[] {
  const { window } = database.connectionFailures;
  return [
    {
      alert: 'DatabaseConnectionFailures',
      why: [
        'Connections that failed, for every service with a database client: connection attempts',
        '(db.client.connection.create_time) and calls (db.client.operation.duration) whose error.type says the',
        'connection failed (refused, reset, timed out, SQLSTATE 08xxx/53300/57P0x/28xxx, pool timeout).',
      ].join('\n'),
      expr: `${connectionFailures(window)} > 0`,
      for: database.connectionFailures.for,
      severity: 'critical',
      summary: '{{ $labels.service }}: database connections are failing',
      description: `{{ $labels.service }}'s database connections have been failing for ${database.connectionFailures.for} ({{ $value | humanize }}/s over ${window}).`,
      value: '{{ $value | humanize }}/s',
      dashboard: runtime(panels.connectionFailures),
    },
    {
      alert: 'DatabasePoolExhausted',
      why: 'Requests waiting for a pool connection, continuously: the pool is too small or connections are not coming back.',
      expr: `sum by (service, db_client_connection_pool_name) (${asService('db_client_connection_pending_requests')}) > ${database.pendingAcquisitions.above}`,
      for: database.pendingAcquisitions.for,
      severity: 'warning',
      summary: '{{ $labels.service }}: requests waiting for pool {{ $labels.db_client_connection_pool_name }}',
      description: `{{ $value }} requests of {{ $labels.service }} have been waiting for a connection from pool {{ $labels.db_client_connection_pool_name }} for ${database.pendingAcquisitions.for}.`,
      value: '{{ $value }}',
      dashboard: runtime(panels.poolPending),
    },
  ];
}

function workloadAlerts(): AlertRule[] {
  const { window } = workloads.failures;
  return [
    {
      alert: 'QueueDepthHigh',
      why: 'Any component\'s queue gauge (lookout_<component>_queue_depth), whatever the service is called.',
      expr: `max by (service, queue) (${asService(anyComponent('queue_depth'))}) > ${workloads.queueDepth.above}`,
      for: workloads.queueDepth.for,
      severity: 'warning',
      summary: '{{ $labels.service }}: queue {{ $labels.queue }} holds {{ $value }} messages',
      description: `{{ $labels.service }}'s queue {{ $labels.queue }} has held more than ${workloads.queueDepth.above} messages for ${workloads.queueDepth.for} (now {{ $value }}): consumers are falling behind.`,
      value: '{{ $value }}',
      dashboard: runtime(panels.queueDepth),
    },
    {
      alert: 'JobFailureRatioHigh',
      why: 'Workflow runs and jobs: the outcome of lookout_<component>_processing_duration_seconds.',
      expr: `${recorded.processingFailureRatio(window)} > ${workloads.failures.above}`,
      for: workloads.failures.for,
      severity: 'warning',
      summary: '{{ $labels.service }}: {{ $value | humanizePercentage }} of {{ $labels.operation }} jobs fail',
      description: `More than ${workloads.failures.above * 100}% of {{ $labels.service }}'s {{ $labels.operation }} jobs failed over the last ${window} (now {{ $value | humanizePercentage }}).`,
      value: '{{ $value | humanizePercentage }}',
      dashboard: runtime(panels.processingFailures),
    },
  ];
}

function auditAlerts(): AlertRule[] {
  const lag = audit.streamLag;
  const auditDashboard = (panel: string) => ({ uid: dashboardUids.audit, panel });
  return [
    {
      alert: 'AuditWriteFailures',
      why: 'Server-side failures only (invalid/too_large/rate_limited are the caller\'s and show as 4xx); one isolated failure keeps the rate above zero for less than the window.',
      expr: `${serviceRate('lookout_audit_write_failures_total{reason=~"database_unavailable|error"}', audit.writeFailures.window)} > 0`,
      for: audit.writeFailures.for,
      severity: 'critical',
      summary: '{{ $labels.service }}: audit events are failing to be written',
      description: `{{ $labels.service }} has been failing to store audit events (reason database_unavailable or error) for ${audit.writeFailures.for}, at {{ $value | humanize }} failures/s. Audit records may be lost.`,
      value: '{{ $value | humanize }}/s',
      dashboard: auditDashboard(panels.writeFailures),
    },
    {
      alert: 'AuditStreamLagHigh',
      why: 'Time from an event being received to reaching stream subscribers; normally milliseconds.',
      expr: `${recorded.streamLag(lag.quantile, lag.window)} > ${lag.aboveSeconds}`,
      for: lag.for,
      severity: 'warning',
      summary: `{{ $labels.service }}: audit stream lag p${Math.round(lag.quantile * 100)} {{ $value | humanizeDuration }}`,
      description: `Audit events reach live stream subscribers of {{ $labels.service }} late: p${Math.round(lag.quantile * 100)} lag over ${lag.window} has been above ${lag.aboveSeconds}s for ${lag.for} (now {{ $value | humanizeDuration }}).`,
      value: '{{ $value | humanizeDuration }}',
      dashboard: auditDashboard(panels.streamLag),
    },
  ];
}

export const serviceAlertGroups = (): Array<RuleGroup<AlertRule>> => [
  { name: 'lookout-probe-alerts', why: 'From the blackbox exporter\'s probes of every service\'s health endpoints (prometheus.yml jobs probe-*).', rules: probeAlerts() },
  { name: 'lookout-database-alerts', rules: databaseAlerts() },
  { name: 'lookout-workload-alerts', rules: workloadAlerts() },
  { name: 'lookout-audit-alerts', rules: auditAlerts() },
];
