// The one typed configuration the stack's rules, alerts, dashboards and links are generated from (the
// Prometheus-mixin `config.libsonnet` pattern): every threshold, window and URL pattern is written here once.
// Thresholds are the operations requirements, exactly as written there.

/** A Prometheus duration, as rules and range selectors take it. */
export type Duration = `${number}${'s' | 'm' | 'h' | 'd'}`;

export type Severity = 'critical' | 'warning' | 'info';

export const dashboardUids = {
  serviceOverview: 'lookout-service-overview',
  runtime: 'lookout-runtime',
  audit: 'lookout-audit',
  alerts: 'lookout-alerts',
  collector: 'lookout-collector',
  postgres: 'lookout-postgres',
  workflowRuns: 'lookout-workflow-runs',
  security: 'lookout-security',
  errors: 'lookout-errors',
} as const;

export type DashboardUid = (typeof dashboardUids)[keyof typeof dashboardUids];

// Links in alert annotations are built from two bases the running stack supplies: Prometheus copies the
// environment variables LOOKOUT_GRAFANA_URL and LOOKOUT_RUNBOOK_URL into these external labels (prometheus.yml,
// `${VAR}` expansion), and each rule's template reads them as $externalLabels. docker-compose.yml defaults them
// to the compose stack's Grafana and to the runbooks Grafana serves from docs/runbooks.
export const links = {
  grafanaLabel: 'lookout_grafana_url',
  runbookLabel: 'lookout_runbook_url',
  defaults: { grafana: 'http://localhost:3000', runbooks: 'http://localhost:3000/public/runbooks' },
  runbookDir: 'docs/runbooks',
} as const;

export const http = {
  // Promoted resource attribute that names the service on OTLP series; rules copy it to `service`.
  serviceLabel: 'service_name',
  errorRatio: {
    critical: { above: 0.05, window: '5m', for: '2m' },
    warning: { above: 0.02, window: '15m', for: '5m' },
  },
  latency: {
    critical: { quantile: 0.99, aboveSeconds: 5, window: '5m', for: '5m' },
    warning: { quantile: 0.95, aboveSeconds: 2, window: '15m', for: '5m' },
  },
  // Quantiles the dashboards draw besides the alerted ones.
  dashboardQuantiles: [0.5, 0.95, 0.99],
  dashboardWindow: '5m',
} as const satisfies Record<string, unknown>;

// Availability SLO and its multiwindow, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs",
// table 5-8): each long window detects, its short window (1/12 of it) lets the alert reset soon after a fix.
export const slo = {
  objective: 0.999,
  periodDays: 30,
  fast: { severity: 'critical', for: '2m', windows: [{ long: '1h', short: '5m', burn: 14.4 }, { long: '6h', short: '30m', burn: 6 }] },
  // A ticket, not a page: info goes to email.
  slow: { severity: 'info', for: '15m', windows: [{ long: '1d', short: '2h', burn: 3 }, { long: '3d', short: '6h', burn: 1 }] },
} as const;

export const errorBudget = Math.round((1 - slo.objective) * 1e9) / 1e9;

/** Windows over which 5xx ratios are recorded: the alert windows and every SLO window. */
export const errorRatioWindows: Duration[] = [
  ...new Set<Duration>([
    http.errorRatio.critical.window,
    http.errorRatio.warning.window,
    ...[...slo.fast.windows, ...slo.slow.windows].flatMap((w) => [w.long, w.short] as Duration[]),
  ]),
].sort((a, b) => seconds(a) - seconds(b));

// Connection failures, by error.type as the agent records it on db.client.operation.duration: system errors
// reaching the server, SQLSTATE class 08 (connection exception), 53300 (too many connections), 57P01-57P03
// (the server shutting down or not yet accepting), 28P01/28000 (login refused), and knex's pool timeout.
export const database = {
  connectionErrorTypes: 'ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|08[0-9A-Z]{3}|53300|57P0[1-3]|28P01|28000|KnexTimeoutError',
  // `for` at least the window: one failed connection keeps the rate above zero for less than the window, so it does not page.
  connectionFailures: { window: '5m', for: '5m' },
  pendingAcquisitions: { above: 0, for: '5m' },
  connectionsNearMax: { above: 0.8, for: '10m' },
  cacheHitRatio: { below: 0.8, window: '15m', for: '15m', minBlocksPerSecond: 10 },
  storage: { above: 0.9, for: '10m' },
  // The host filesystem that holds the PostgreSQL data volume, as the Collector's host_metrics receiver reports
  // it: compose's postgres-data volume lives under Docker's data root, on `/` in a default install. Where
  // /var/lib/docker (or the volume) is a filesystem of its own, name that mount point here and regenerate.
  dataMountpoint: '/',
  deadlocks: { window: '10m' },
  job: 'postgres',
} as const;

export const workloads = {
  queueDepth: { above: 1000, for: '5m' },
  // Share of units of work (lookout.<component>.processing.duration, outcome=failure) that failed.
  failures: { above: 0.1, window: '15m', for: '5m' },
} as const;

export type ProbeTier = 'public' | 'internal';

// What the blackbox exporter probes (prometheus/prometheus.yml: jobs probe-health, probe-db,
// probe-dependencies) and how much a failure matters: a public service down pages, an internal one warns.
export const probes = {
  jobs: { health: 'probe-health', db: 'probe-db', dependencies: 'probe-dependencies' },
  for: '2m',
  services: {
    gateway: { tier: 'public', auth: true },
    'audit-api': { tier: 'public', auth: true },
    runs: { tier: 'internal', auth: false },
    worker: { tier: 'internal', auth: false },
    'alert-webhook': { tier: 'internal', auth: false },
  } satisfies Record<string, { tier: ProbeTier; auth: boolean }>,
} as const;

export const host = {
  job: 'lookout/host',
  storage: { above: 0.9, for: '10m' },
} as const;

export const audit = {
  streamLag: { quantile: 0.95, aboveSeconds: 5, window: '5m', for: '10m' },
  writeFailures: { window: '5m', for: '5m' },
} as const;

export const collector = {
  job: 'otel-collector',
  queueFull: { above: 0.8, for: '5m' },
} as const;

/** A duration in seconds (for ordering windows). */
export function seconds(duration: Duration): number {
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[duration.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(duration.slice(0, -1)) * unit;
}

// Errors grouped by the agent's exception.fingerprint (lookout.errors, one series per fingerprint and release).
// A series exists from a fingerprint's first occurrence in a process, so "seen before" is "a series existed".
export const errors = {
  metric: 'lookout_errors_total',
  // A fingerprint no process reported within `history` before the last `window`.
  newFingerprint: { window: '15m', history: '7d', for: '0m' },
  // A known fingerprint (seen within `history`) that had gone quiet for `quietFor` and occurs in a release it had not
  // occurred in before: the fault came back with a deploy.
  regression: { window: '15m', history: '7d', quietFor: '1d', for: '0m' },
} as const;

// The backup service (ops/): one dump per database a day (LOOKOUT_BACKUP_SCHEDULE); its metrics carry `database`.
export const backups = {
  databases: ['audit', 'runs'],
  // One missed daily run plus two hours of slack.
  missingAfterHours: 26,
  // How far back the newest success is looked for: a stopped service leaves its last timestamp stale, not absent.
  lookBack: '8d',
  failedWindow: '1h',
} as const;
