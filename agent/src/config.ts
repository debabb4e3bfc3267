// The environment → one typed, validated agent config. Bad values warn and fall back to the default.
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { RedactionClasses } from './redact.js';
import { warn } from './warn.js';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export type Signal = 'traces' | 'metrics' | 'logs';
/** What OTEL_<SIGNAL>_EXPORTER may name besides `none`; `prometheus` is for metrics only. */
export type ExporterName = 'otlp' | 'console' | 'prometheus';
export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export const PROPAGATOR_NAMES = ['tracecontext', 'baggage', 'b3', 'b3multi'] as const;
export type PropagatorName = (typeof PROPAGATOR_NAMES)[number];

export interface BatchConfig {
  scheduledDelayMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  exportTimeoutMillis: number;
}

export interface AgentConfig {
  disabled: boolean;
  serviceName: string;
  serviceVersion: string | undefined;
  deploymentEnvironment: string | undefined;
  /** Signals exported somewhere: those whose OTEL_<SIGNAL>_EXPORTER is not `none`. */
  signals: Set<Signal>;
  /** Where each signal goes (OTEL_<SIGNAL>_EXPORTER); empty for `none`. */
  exporters: Record<Signal, ExporterName[]>;
  /** The OTLP protocol of each signal (OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL). */
  protocols: Record<Signal, OtlpProtocol>;
  /** OTEL_PROPAGATORS, in order; empty for `none`. */
  propagators: PropagatorName[];
  /** Where OTEL_METRICS_EXPORTER=prometheus serves /metrics. */
  prometheus: { host: string; port: number };
  sampler: SamplerName;
  samplerRatio: number;
  logLevel: 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
  metricExportIntervalMillis: number;
  metricExportTimeoutMillis: number;
  spans: BatchConfig;
  logs: BatchConfig;
  /** Instrumentation names (`http`, `koa`, …) the user asked for; undefined means our default set. */
  enabledInstrumentations: string[] | undefined;
  disabledInstrumentations: Set<string>;
  /**
   * Pieces where the upstream OpenTelemetry instrumentation runs instead of ours
   * (LOOKOUT_UPSTREAM_INSTRUMENTATIONS): `http`, `undici`, `pg`, `knex`, `winston`, `pino`.
   */
  upstreamInstrumentations: Set<UpstreamName>;
  /** Extra key fragments for the redaction policy (LOOKOUT_REDACT_KEYS). */
  redactKeys: string[];
  /** Personal-data classes the redaction policy looks for (LOOKOUT_REDACT_EMAILS, _PHONES, _SSNS). */
  redactClasses: RedactionClasses;
  /** Send process.command_args and process.command_line, redacted, on the resource (LOOKOUT_RESOURCE_COMMAND_ARGS). */
  resourceCommandArgs: boolean;
  /**
   * Headers the agent adds to every response (LOOKOUT_RESPONSE_HEADERS); empty by default, when only an
   * x-request-id the caller sent is echoed.
   */
  responseHeaders: Set<ResponseHeaderName>;
  shutdownTimeoutMillis: number;
  /**
   * Distinct exception fingerprints `lookout.errors` counts per process (LOOKOUT_ERRORS_MAX_FINGERPRINTS);
   * faults beyond them are counted as one, `_overflow`.
   */
  errorsMaxFingerprints: number;
  /** Directory of the app's entry script, used to find its package.json and its dependencies. */
  appDir: string;
  /**
   * The app's root: the directory of the package.json nearest above the entry script (else appDir).
   * Exception fingerprints name files relative to it, so the same code deployed at two paths agrees.
   */
  appRoot: string;
}

type Env = Record<string, string | undefined>;

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
/** The instrumentations Lookout owns whose upstream counterpart stays one variable away. */
export const UPSTREAM_NAMES = ['http', 'undici', 'pg', 'knex', 'winston', 'pino'] as const;
export type UpstreamName = (typeof UPSTREAM_NAMES)[number];
/** The headers LOOKOUT_RESPONSE_HEADERS may name. */
export const RESPONSE_HEADER_NAMES = ['traceresponse', 'x-request-id'] as const;
export type ResponseHeaderName = (typeof RESPONSE_HEADER_NAMES)[number];

const LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;

export function loadConfig(env: Env = process.env, entry = process.argv[1]): AgentConfig {
  const appDir = entry ? dirname(entry) : process.cwd();
  const appPackage = readAppPackage(appDir);
  const resourceAttrs = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);

  // Enumerated values are case-insensitive, as the specification says.
  const lower = (v: string) => v.toLowerCase();
  const sampler = oneOf(env, 'OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on', lower);
  const exporters = { traces: exporterNames(env, 'traces'), metrics: exporterNames(env, 'metrics'), logs: exporterNames(env, 'logs') };
  // grpc unless set: the spec's default is http/protobuf, ours is the collector's OTLP/gRPC port.
  const protocol = oneOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL', OTLP_PROTOCOLS, 'grpc', lower);
  const signalProtocol = (signal: Signal) => oneOf(env, `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL`, OTLP_PROTOCOLS, protocol, lower);
  const redaction = redactionSettings(env);
  return {
    disabled: bool(env, 'OTEL_SDK_DISABLED', false),
    serviceName: serviceName(env, resourceAttrs, appPackage?.name),
    serviceVersion: serviceVersionOf(resourceAttrs, appPackage),
    // Not NODE_ENV: staging runs with NODE_ENV=production too, and would be labelled production.
    deploymentEnvironment: resourceAttrs['deployment.environment.name'] ?? nonEmpty(env.LOOKOUT_ENVIRONMENT),
    signals: new Set((['traces', 'metrics', 'logs'] as const).filter((s) => exporters[s].length > 0)),
    exporters,
    protocols: { traces: signalProtocol('traces'), metrics: signalProtocol('metrics'), logs: signalProtocol('logs') },
    propagators: nameList(env, 'OTEL_PROPAGATORS', PROPAGATOR_NAMES, ['tracecontext', 'baggage']),
    // The spec's defaults; localhost keeps /metrics off other machines unless asked (0.0.0.0 in a container).
    prometheus: {
      host: nonEmpty(env.OTEL_EXPORTER_PROMETHEUS_HOST) ?? 'localhost',
      port: port(env, 'OTEL_EXPORTER_PROMETHEUS_PORT', 9464),
    },
    sampler,
    samplerRatio: sampler.endsWith('traceidratio') ? ratio(env, 'OTEL_TRACES_SAMPLER_ARG', 1) : 1,
    logLevel: oneOf(env, 'OTEL_LOG_LEVEL', LOG_LEVELS, 'none', (v) => v.toLowerCase()),
    ...metricExport(env),
    spans: batch(env, 'OTEL_BSP', { scheduledDelayMillis: 5000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMillis: 30_000 }),
    logs: batch(env, 'OTEL_BLRP', { scheduledDelayMillis: 1000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMillis: 30_000 }),
    enabledInstrumentations: list(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS),
    disabledInstrumentations: new Set(list(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS) ?? []),
    upstreamInstrumentations: upstreamNames(env),
    redactKeys: redaction.keys,
    redactClasses: redaction.classes,
    resourceCommandArgs: bool(env, 'LOOKOUT_RESOURCE_COMMAND_ARGS', false),
    responseHeaders: responseHeaderNames(env),
    shutdownTimeoutMillis: int(env, 'LOOKOUT_SHUTDOWN_TIMEOUT_MS', 5000, 0),
    errorsMaxFingerprints: int(env, 'LOOKOUT_ERRORS_MAX_FINGERPRINTS', 200, 1),
    appDir,
    appRoot: appPackage?.dir ?? appDir,
  };
}

/**
 * LOOKOUT_REDACT_KEYS and the class switches, each class on unless set to `false`. Read here for the agent
 * and by redactionPolicy() when the package runs without it (the audit API's tests, a script): one parser.
 */
export function redactionSettings(env: Env = process.env): { keys: string[]; classes: RedactionClasses } {
  return {
    keys: list(env.LOOKOUT_REDACT_KEYS) ?? [],
    classes: {
      emails: bool(env, 'LOOKOUT_REDACT_EMAILS', true),
      phones: bool(env, 'LOOKOUT_REDACT_PHONES', true),
      ssns: bool(env, 'LOOKOUT_REDACT_SSNS', true),
    },
  };
}

/**
 * The variables the upstream exporters read themselves: a bad value warns and is deleted from `env`, so the
 * exporter falls back to its default instead of failing silently. Mutating is the point: upstream reads
 * process.env directly, and passing corrected values instead would mean re-implementing its precedence.
 */
export function dropInvalidExporterEnv(env: Env = process.env): void {
  for (const name of ['', 'TRACES_', 'METRICS_', 'LOGS_'].map((s) => `OTEL_EXPORTER_OTLP_${s}ENDPOINT`)) {
    const value = nonEmpty(env[name]);
    if (value === undefined) continue;
    if (!/^https?:\/\/[^/]+/.test(value)) {
      warn(`${name}="${value}" is not an http(s) URL such as http://localhost:4317; the default is used (http://localhost:4317 for grpc, http://localhost:4318 for http/protobuf and http/json)`);
      delete env[name];
    }
  }
  for (const name of ['', 'TRACES_', 'METRICS_', 'LOGS_'].map((s) => `OTEL_EXPORTER_OTLP_${s}TIMEOUT`)) {
    if (env[name] !== undefined && !(Number(env[name]) > 0)) {
      warn(`${name}="${env[name]}" is not a positive number of milliseconds; the default 10000 is used`);
      delete env[name];
    }
  }
  const temporality = nonEmpty(env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE);
  if (temporality !== undefined && temporality.toLowerCase() !== 'cumulative') {
    warn(`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="${temporality}" is ignored: Prometheus's OTLP endpoint accepts cumulative temporality only`);
  }
}

/**
 * service.name: OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES, then the app's package
 * name, then the spec's unknown_service:<executable>. One rule for the agent and the library half.
 */
export function serviceName(env: Env, resourceAttrs = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES), packageName?: string): string {
  return nonEmpty(env.OTEL_SERVICE_NAME) ?? resourceAttrs['service.name'] ?? packageName ?? `unknown_service:${basename(process.argv0) || 'node'}`;
}

/** winston's levels, which LOOKOUT_LOG_LEVEL names. */
export const LOGGER_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LoggerLevel = (typeof LOGGER_LEVELS)[number];

/** What the library half (createLogger, the audit client) reads when the preload may not be running. */
export interface LibraryConfig {
  /** LOOKOUT_LOG_LEVEL: the default level of createLogger(). */
  logLevel: LoggerLevel;
  /** The service name on log lines before (or without) the preload. */
  serviceName: string;
}

let library: LibraryConfig | undefined;

/** Read once and cached, so a bad LOOKOUT_LOG_LEVEL warns once however many loggers are made. */
export function libraryConfig(): LibraryConfig {
  library ??= loadLibraryConfig(process.env);
  return library;
}

export function loadLibraryConfig(env: Env): LibraryConfig {
  return {
    logLevel: oneOf(env, 'LOOKOUT_LOG_LEVEL', LOGGER_LEVELS, 'info', (v) => v.toLowerCase()),
    serviceName: serviceName(env),
  };
}

/**
 * LOOKOUT_AUDIT_URL and LOOKOUT_AUDIT_TOKEN, read each time an audit client is made (not cached): an app may
 * set them after import, and the client itself reports what is missing or malformed.
 */
export function auditSettings(env: Env = process.env): { url: string | undefined; token: string | undefined } {
  return { url: nonEmpty(env.LOOKOUT_AUDIT_URL), token: nonEmpty(env.LOOKOUT_AUDIT_TOKEN) };
}

/**
 * OTEL_METRIC_EXPORT_INTERVAL and _TIMEOUT; a timeout above the interval is clamped to it, as upstream does:
 * with a warning when the timeout was set so, silently when only the interval was shortened below the default.
 */
function metricExport(env: Env): { metricExportIntervalMillis: number; metricExportTimeoutMillis: number } {
  const interval = int(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, 100);
  const timeout = int(env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000, 1);
  if (timeout <= interval) return { metricExportIntervalMillis: interval, metricExportTimeoutMillis: timeout };
  if (nonEmpty(env.OTEL_METRIC_EXPORT_TIMEOUT) !== undefined) warn(`OTEL_METRIC_EXPORT_TIMEOUT (${timeout}) exceeds OTEL_METRIC_EXPORT_INTERVAL (${interval}); using ${interval}`);
  return { metricExportIntervalMillis: interval, metricExportTimeoutMillis: interval };
}

const serviceVersionOf = (resourceAttrs: Record<string, string>, appPackage: { version?: string } | undefined) =>
  resourceAttrs['service.version'] ?? appPackage?.version;

/**
 * The service.version the agent puts on the resource: OTEL_RESOURCE_ATTRIBUTES, else the nearest package.json
 * above the entry script. /health reports the same, so a probe and the telemetry name one version.
 */
export function serviceVersion(env: Env = process.env, entry = process.argv[1]): string | undefined {
  return serviceVersionOf(parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES), readAppPackage(entry ? dirname(entry) : process.cwd()));
}

function readAppPackage(dir: string): { dir: string; name?: string; version?: string } | undefined {
  // Walk up from the entry script to the nearest package.json, as Node's resolver does.
  for (let current = dir; ; current = dirname(current)) {
    try {
      const pkg = JSON.parse(readFileSync(join(current, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      return {
        dir: current,
        ...(typeof pkg.name === 'string' && pkg.name ? { name: pkg.name } : {}),
        ...(typeof pkg.version === 'string' && pkg.version ? { version: pkg.version } : {}),
      };
    } catch {
      if (dirname(current) === current) return undefined;
    }
  }
}

/** OTEL_RESOURCE_ATTRIBUTES: comma-separated key=value pairs, values percent-encoded (W3C Baggage octets). */
export function parseResourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) {
      if (pair.trim()) warn(`OTEL_RESOURCE_ATTRIBUTES: "${pair.trim()}" is not key=value; ignored`);
      continue;
    }
    try {
      out[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      warn(`OTEL_RESOURCE_ATTRIBUTES: the value of "${pair.slice(0, at).trim()}" is not valid percent-encoding; ignored`);
    }
  }
  return out;
}

function exporterNames(env: Env, signal: Signal): ExporterName[] {
  const allowed: readonly ExporterName[] = signal === 'metrics' ? ['otlp', 'console', 'prometheus'] : ['otlp', 'console'];
  return nameList(env, `OTEL_${signal.toUpperCase()}_EXPORTER`, allowed, ['otlp']);
}

/**
 * A comma-separated list of names (OTEL_<SIGNAL>_EXPORTER, OTEL_PROPAGATORS): `none` anywhere in it means
 * none; names not in `allowed` warn and are skipped; unset, or nothing usable left, is `fallback`.
 */
function nameList<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T[]): T[] {
  const values = list(env[name])?.map((v) => v.toLowerCase());
  if (!values) return fallback;
  if (values.includes('none')) return [];
  const known = [...new Set(values.filter((v): v is T => (allowed as readonly string[]).includes(v)))];
  const unknown = values.filter((v) => !(allowed as readonly string[]).includes(v));
  const used = known.length > 0 ? known : fallback;
  if (unknown.length > 0) {
    warn(`${name}="${env[name]}" names ${unknown.map((v) => `"${v}"`).join(', ')}, not one of ${allowed.join(', ')}, none; ${used.join(',')} is used`);
  }
  return used;
}

function upstreamNames(env: Env): Set<UpstreamName> {
  const names = new Set<UpstreamName>();
  for (const raw of list(env.LOOKOUT_UPSTREAM_INSTRUMENTATIONS) ?? []) {
    const name = raw.toLowerCase();
    if ((UPSTREAM_NAMES as readonly string[]).includes(name)) names.add(name as UpstreamName);
    else warn(`LOOKOUT_UPSTREAM_INSTRUMENTATIONS names "${raw}", which is not one of ${UPSTREAM_NAMES.join(', ')}; ignored`);
  }
  return names;
}

function responseHeaderNames(env: Env): Set<ResponseHeaderName> {
  const names = new Set<ResponseHeaderName>();
  const values = list(env.LOOKOUT_RESPONSE_HEADERS) ?? [];
  for (const raw of values) {
    const name = raw.toLowerCase();
    if ((RESPONSE_HEADER_NAMES as readonly string[]).includes(name)) names.add(name as ResponseHeaderName);
    else if (name !== 'none') warn(`LOOKOUT_RESPONSE_HEADERS names "${raw}", which is not one of ${RESPONSE_HEADER_NAMES.join(', ')} or none; ignored`);
  }
  // As in OTEL_*_EXPORTER lists, `none` wins over anything listed with it.
  return values.some((v) => v.toLowerCase() === 'none') ? new Set() : names;
}

function batch(env: Env, prefix: string, defaults: BatchConfig): BatchConfig {
  const maxQueueSize = int(env, `${prefix}_MAX_QUEUE_SIZE`, defaults.maxQueueSize, 1);
  let maxExportBatchSize = int(env, `${prefix}_MAX_EXPORT_BATCH_SIZE`, defaults.maxExportBatchSize, 1);
  if (maxExportBatchSize > maxQueueSize) {
    warn(`${prefix}_MAX_EXPORT_BATCH_SIZE (${maxExportBatchSize}) exceeds ${prefix}_MAX_QUEUE_SIZE (${maxQueueSize}); using ${maxQueueSize}`);
    maxExportBatchSize = maxQueueSize;
  }
  return {
    scheduledDelayMillis: int(env, `${prefix}_SCHEDULE_DELAY`, defaults.scheduledDelayMillis, 0),
    maxQueueSize,
    maxExportBatchSize,
    exportTimeoutMillis: int(env, `${prefix}_EXPORT_TIMEOUT`, defaults.exportTimeoutMillis, 1),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function list(value: string | undefined): string[] | undefined {
  const items = value?.split(',').map((s) => s.trim()).filter(Boolean);
  return items && items.length > 0 ? items : undefined;
}

/**
 * The OpenTelemetry spec's boolean: "true" (any case) is true, "false" is false, anything else warns and
 * keeps the default. Unset or empty is the default too: the spec says false, which is the same for every
 * default-false variable, and for the default-true redaction switches an empty line in a compose file must
 * not silently turn redaction off.
 */
function bool(env: Env, name: string, fallback: boolean): boolean {
  const value = nonEmpty(env[name])?.toLowerCase();
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  warn(`${name}="${env[name]}" is not "true" or "false"; the default ${fallback} is used`);
  return fallback;
}

function int(env: Env, name: string, fallback: number, min: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (Number.isInteger(value) && value >= min) return value;
  warn(`${name}="${raw}" is not an integer >= ${min}; the default ${fallback} is used`);
  return fallback;
}

function port(env: Env, name: string, fallback: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (Number.isInteger(value) && value >= 1 && value <= 65535) return value;
  warn(`${name}="${raw}" is not a port number (1–65535); the default ${fallback} is used`);
  return fallback;
}

function ratio(env: Env, name: string, fallback: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (Number.isFinite(value) && value >= 0 && value <= 1) return value;
  warn(`${name}="${raw}" is not a ratio between 0 and 1; the default ${fallback} is used`);
  return fallback;
}

function oneOf<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: T,
  normalise: (v: string) => string = (v) => v,
): T {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = normalise(raw);
  if ((allowed as readonly string[]).includes(value)) return value as T;
  warn(`${name}="${raw}" is not one of ${allowed.join(', ')}; the default ${fallback} is used`);
  return fallback;
}
