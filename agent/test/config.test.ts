import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { auditSettings, dropInvalidExporterEnv, loadConfig, loadLibraryConfig, parseResourceAttributes, serviceName } from '../src/config.js';

const APP = fileURLToPath(new URL('./fixtures/apps/esm-app.mjs', import.meta.url));

/** Runs `fn` with process.stderr.write captured. */
function captureStderr(fn: () => void): string {
  const original = process.stderr.write.bind(process.stderr);
  let out = '';
  process.stderr.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return out;
}

describe('agent configuration', () => {
  it('uses the spec defaults when nothing is set, and the app package.json for name and version', () => {
    const config = loadConfig({}, APP);
    assert.equal(config.disabled, false);
    assert.equal(config.serviceName, 'fixture-shop');
    assert.equal(config.serviceVersion, '1.2.3');
    assert.equal(config.sampler, 'parentbased_always_on');
    assert.equal(config.metricExportIntervalMillis, 60_000);
    assert.deepEqual(config.spans, { scheduledDelayMillis: 5000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMillis: 30_000 });
    assert.deepEqual([...config.signals], ['traces', 'metrics', 'logs']);
    assert.equal(config.shutdownTimeoutMillis, 5000);
  });

  it('prefers OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES', () => {
    assert.equal(loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }, APP).serviceName, 'from-attrs');
    assert.equal(loadConfig({ OTEL_SERVICE_NAME: 'orders', OTEL_RESOURCE_ATTRIBUTES: 'service.name=x' }, APP).serviceName, 'orders');
  });

  it('reads deployment.environment.name from the resource attributes, else LOOKOUT_ENVIRONMENT, never NODE_ENV', () => {
    assert.equal(loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging', LOOKOUT_ENVIRONMENT: 'prod' }, APP).deploymentEnvironment, 'staging');
    assert.equal(loadConfig({ LOOKOUT_ENVIRONMENT: 'prod' }, APP).deploymentEnvironment, 'prod');
    assert.equal(loadConfig({ NODE_ENV: 'production' }, APP).deploymentEnvironment, undefined);
  });

  it('treats enumerated values case-insensitively, as the specification says', () => {
    const config = loadConfig({ OTEL_TRACES_SAMPLER: 'AlWays_Off', OTEL_LOGS_EXPORTER: 'None' }, APP);
    assert.equal(config.sampler, 'always_off');
    assert.equal(config.signals.has('logs'), false);
  });

  it('decodes percent-encoded resource attribute values', () => {
    assert.deepEqual(parseResourceAttributes('team=core%20platform,region=eu-west-1'), { team: 'core platform', region: 'eu-west-1' });
  });

  it('warns about a bad value, names the variable and keeps the default', () => {
    let config!: ReturnType<typeof loadConfig>;
    const stderr = captureStderr(() => {
      config = loadConfig(
        { OTEL_METRIC_EXPORT_INTERVAL: 'soon', OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '2', OTEL_SDK_DISABLED: 'yes' },
        APP,
      );
    });
    assert.equal(config.metricExportIntervalMillis, 60_000);
    assert.equal(config.sampler, 'parentbased_always_on');
    assert.equal(config.disabled, false);
    assert.match(stderr, /OTEL_METRIC_EXPORT_INTERVAL="soon" is not an integer/);
    assert.match(stderr, /OTEL_TRACES_SAMPLER="sometimes" is not one of always_on/);
    assert.match(stderr, /OTEL_SDK_DISABLED="yes" is not "true" or "false"/);
  });

  it('honours the ratio sampler argument and turns a signal off with OTEL_<SIGNAL>_EXPORTER=none', () => {
    const config = loadConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25', OTEL_LOGS_EXPORTER: 'none' }, APP);
    assert.equal(config.samplerRatio, 0.25);
    assert.deepEqual([...config.signals], ['traces', 'metrics']);
  });

  it('parses the instrumentation lists and the extra redaction keys', () => {
    const config = loadConfig(
      { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http, koa', OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'koa', LOOKOUT_REDACT_KEYS: 'iban,member_no' },
      APP,
    );
    assert.deepEqual(config.enabledInstrumentations, ['http', 'koa']);
    assert.deepEqual([...config.disabledInstrumentations], ['koa']);
    assert.deepEqual(config.redactKeys, ['iban', 'member_no']);
  });

  it('takes LOOKOUT_UPSTREAM_INSTRUMENTATIONS case-insensitively, and warns about a name it does not know', () => {
    let config = loadConfig({}, APP);
    const warned = captureStderr(() => {
      config = loadConfig({ LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'PG, undici,express' }, APP);
    });
    assert.deepEqual([...config.upstreamInstrumentations].sort(), ['pg', 'undici']);
    assert.match(warned, /LOOKOUT_UPSTREAM_INSTRUMENTATIONS names "express".*http, undici, pg, knex, winston/);
    assert.deepEqual([...loadConfig({}, APP).upstreamInstrumentations], []);
  });

  it('exports every signal over OTLP/gRPC, propagates W3C trace context and baggage, and serves Prometheus on localhost:9464 by default', () => {
    const config = loadConfig({}, APP);
    assert.deepEqual(config.exporters, { traces: ['otlp'], metrics: ['otlp'], logs: ['otlp'] });
    assert.deepEqual(config.protocols, { traces: 'grpc', metrics: 'grpc', logs: 'grpc' });
    assert.deepEqual(config.propagators, ['tracecontext', 'baggage']);
    assert.deepEqual(config.prometheus, { host: 'localhost', port: 9464 });
  });

  it('takes a per-signal OTLP protocol over the shared one', () => {
    const config = loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/JSON', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf' }, APP);
    assert.deepEqual(config.protocols, { traces: 'http/json', metrics: 'http/json', logs: 'http/protobuf' });
  });

  it('reads exporter lists: several at once, prometheus for metrics, none to switch a signal off', () => {
    const config = loadConfig({ OTEL_TRACES_EXPORTER: 'otlp, Console', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_LOGS_EXPORTER: 'console,none' }, APP);
    assert.deepEqual(config.exporters, { traces: ['otlp', 'console'], metrics: ['prometheus'], logs: [] });
    assert.deepEqual([...config.signals], ['traces', 'metrics']);
  });

  it('reads OTEL_PROPAGATORS in order, and none as no propagator', () => {
    assert.deepEqual(loadConfig({ OTEL_PROPAGATORS: 'b3multi,tracecontext' }, APP).propagators, ['b3multi', 'tracecontext']);
    assert.deepEqual(loadConfig({ OTEL_PROPAGATORS: 'B3' }, APP).propagators, ['b3']);
    assert.deepEqual(loadConfig({ OTEL_PROPAGATORS: 'none' }, APP).propagators, []);
  });

  it('warns once per bad exporter, protocol, propagator or port, and falls back', () => {
    let config!: ReturnType<typeof loadConfig>;
    const stderr = captureStderr(() => {
      config = loadConfig(
        {
          OTEL_TRACES_EXPORTER: 'jaeger',
          OTEL_LOGS_EXPORTER: 'prometheus,console',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'h2',
          OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http',
          OTEL_PROPAGATORS: 'xray,b3',
          OTEL_EXPORTER_PROMETHEUS_PORT: '99999',
        },
        APP,
      );
    });
    assert.deepEqual(config.exporters.traces, ['otlp']);
    assert.deepEqual(config.exporters.logs, ['console'], 'prometheus serves metrics only');
    assert.deepEqual(config.protocols, { traces: 'grpc', metrics: 'grpc', logs: 'grpc' });
    assert.deepEqual(config.propagators, ['b3']);
    assert.equal(config.prometheus.port, 9464);
    const lines = stderr.trim().split('\n');
    assert.deepEqual(lines, [
      '[lookout] warning: OTEL_TRACES_EXPORTER="jaeger" names "jaeger", not one of otlp, console, none; otlp is used',
      '[lookout] warning: OTEL_LOGS_EXPORTER="prometheus,console" names "prometheus", not one of otlp, console, none; console is used',
      '[lookout] warning: OTEL_EXPORTER_OTLP_PROTOCOL="h2" is not one of grpc, http/protobuf, http/json; the default grpc is used',
      '[lookout] warning: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http" is not one of grpc, http/protobuf, http/json; the default grpc is used',
      '[lookout] warning: OTEL_PROPAGATORS="xray,b3" names "xray", not one of tracecontext, baggage, b3, b3multi, none; b3 is used',
      '[lookout] warning: OTEL_EXPORTER_PROMETHEUS_PORT="99999" is not a port number (1–65535); the default 9464 is used',
    ]);
  });

  it('takes booleans by the OpenTelemetry rule: "true" in any case, "false", else a warning and the default', () => {
    for (const [value, expected, warns] of [
      ['TRUE', true, false],
      ['true', true, false],
      ['False', false, false],
      ['', false, false],
      ['1', false, true],
      ['yes', false, true],
    ] as const) {
      let disabled!: boolean;
      const stderr = captureStderr(() => (disabled = loadConfig({ OTEL_SDK_DISABLED: value }, APP).disabled));
      assert.equal(disabled, expected, `OTEL_SDK_DISABLED="${value}"`);
      assert.equal(stderr !== '', warns, `OTEL_SDK_DISABLED="${value}" warns: ${stderr}`);
    }
  });

  it('clamps OTEL_METRIC_EXPORT_TIMEOUT to OTEL_METRIC_EXPORT_INTERVAL, as upstream does, and says so once', () => {
    let config!: ReturnType<typeof loadConfig>;
    const stderr = captureStderr(() => (config = loadConfig({ OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_METRIC_EXPORT_TIMEOUT: '5000' }, APP)));
    assert.equal(config.metricExportIntervalMillis, 1000);
    assert.equal(config.metricExportTimeoutMillis, 1000);
    assert.deepEqual(stderr.trim().split('\n'), [
      '[lookout] warning: OTEL_METRIC_EXPORT_TIMEOUT (5000) exceeds OTEL_METRIC_EXPORT_INTERVAL (1000); using 1000',
    ]);
  });

  it('clamps the default metric export timeout to a shorter interval without a warning: the user set nothing wrong', () => {
    let config!: ReturnType<typeof loadConfig>;
    const stderr = captureStderr(() => (config = loadConfig({ OTEL_METRIC_EXPORT_INTERVAL: '500' }, APP)));
    assert.equal(config.metricExportTimeoutMillis, 500);
    assert.equal(stderr, '');
  });

  it('names the service by one rule for the agent and the library half', () => {
    const attrs = { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attributes' };
    assert.equal(loadLibraryConfig(attrs).serviceName, 'from-attributes');
    assert.equal(loadConfig(attrs, APP).serviceName, 'from-attributes');
    assert.equal(loadLibraryConfig({ ...attrs, OTEL_SERVICE_NAME: ' checkout ' }).serviceName, 'checkout');
    assert.match(serviceName({}), /^unknown_service:/);
  });

  it('warns once about a bad LOOKOUT_LOG_LEVEL however many loggers are made', () => {
    const script = `
      const { createLogger } = await import(${JSON.stringify(new URL('../src/logger.ts', import.meta.url).href)});
      const loggers = [createLogger(), createLogger(), createLogger()];
      process.stdout.write(loggers.map((l) => l.level).join(','));
    `;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, LOOKOUT_LOG_LEVEL: 'loud' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'info,info,info');
    assert.equal(result.stderr.match(/LOOKOUT_LOG_LEVEL="loud"/g)?.length, 1, result.stderr);
  });
});

/**
 * Every variable config.ts reads: a good value is taken, a bad one warns, names the variable and gives the
 * default. Free-form variables (names, URLs checked by their consumer, key lists) have no bad value: for
 * them a blank one is the "bad" case, which gives the default without a warning.
 */
type Reader = (env: Record<string, string | undefined>) => unknown;
const agent = (pick: (c: ReturnType<typeof loadConfig>) => unknown): Reader => (env) => pick(loadConfig(env, APP));
const library = (pick: (c: ReturnType<typeof loadLibraryConfig>) => unknown): Reader => (env) => pick(loadLibraryConfig(env));
/** Variables the upstream exporters read themselves: kept when good, deleted (so upstream's default applies) when bad. */
const upstream = (name: string): Reader => (env) => {
  const copy = { ...env };
  dropInvalidExporterEnv(copy);
  return copy[name];
};
const bsp = { scheduledDelayMillis: 5000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMillis: 30_000 };
const blrp = { ...bsp, scheduledDelayMillis: 1000 };

interface Row {
  name: string;
  read: Reader;
  good: [string, unknown];
  /** A bad value, the default it gives, and whether it warns (free-form variables only blank, no warning). */
  bad: [string, unknown, boolean];
}

const ROWS: Row[] = [
  { name: 'OTEL_SDK_DISABLED', read: agent((c) => c.disabled), good: ['true', true], bad: ['yes', false, true] },
  { name: 'OTEL_SERVICE_NAME', read: agent((c) => c.serviceName), good: ['checkout', 'checkout'], bad: [' ', 'fixture-shop', false] },
  { name: 'OTEL_RESOURCE_ATTRIBUTES', read: agent((c) => c.serviceVersion), good: ['service.version=9', '9'], bad: ['version', '1.2.3', true] },
  { name: 'LOOKOUT_ENVIRONMENT', read: agent((c) => c.deploymentEnvironment), good: ['staging', 'staging'], bad: [' ', undefined, false] },
  { name: 'OTEL_TRACES_EXPORTER', read: agent((c) => c.exporters.traces), good: ['console', ['console']], bad: ['jaeger', ['otlp'], true] },
  { name: 'OTEL_METRICS_EXPORTER', read: agent((c) => c.exporters.metrics), good: ['prometheus', ['prometheus']], bad: ['statsd', ['otlp'], true] },
  { name: 'OTEL_LOGS_EXPORTER', read: agent((c) => c.exporters.logs), good: ['none', []], bad: ['prometheus', ['otlp'], true] },
  { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', read: agent((c) => c.protocols.traces), good: ['http/json', 'http/json'], bad: ['h2', 'grpc', true] },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', read: agent((c) => c.protocols.traces), good: ['http/protobuf', 'http/protobuf'], bad: ['h2', 'grpc', true] },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', read: agent((c) => c.protocols.metrics), good: ['http/protobuf', 'http/protobuf'], bad: ['h2', 'grpc', true] },
  { name: 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', read: agent((c) => c.protocols.logs), good: ['http/protobuf', 'http/protobuf'], bad: ['h2', 'grpc', true] },
  { name: 'OTEL_PROPAGATORS', read: agent((c) => c.propagators), good: ['b3multi', ['b3multi']], bad: ['xray', ['tracecontext', 'baggage'], true] },
  { name: 'OTEL_EXPORTER_PROMETHEUS_HOST', read: agent((c) => c.prometheus.host), good: ['0.0.0.0', '0.0.0.0'], bad: [' ', 'localhost', false] },
  { name: 'OTEL_EXPORTER_PROMETHEUS_PORT', read: agent((c) => c.prometheus.port), good: ['9100', 9100], bad: ['99999', 9464, true] },
  { name: 'OTEL_TRACES_SAMPLER', read: agent((c) => c.sampler), good: ['AlWaYs_OfF', 'always_off'], bad: ['sometimes', 'parentbased_always_on', true] },
  {
    name: 'OTEL_TRACES_SAMPLER_ARG',
    read: (env) => loadConfig({ OTEL_TRACES_SAMPLER: 'traceidratio', ...env }, APP).samplerRatio,
    good: ['0.25', 0.25],
    bad: ['2', 1, true],
  },
  { name: 'OTEL_LOG_LEVEL', read: agent((c) => c.logLevel), good: ['DEBUG', 'debug'], bad: ['chatty', 'none', true] },
  { name: 'OTEL_METRIC_EXPORT_INTERVAL', read: agent((c) => c.metricExportIntervalMillis), good: ['45000', 45_000], bad: ['soon', 60_000, true] },
  { name: 'OTEL_METRIC_EXPORT_TIMEOUT', read: agent((c) => c.metricExportTimeoutMillis), good: ['10000', 10_000], bad: ['0', 30_000, true] },
  { name: 'OTEL_BSP_SCHEDULE_DELAY', read: agent((c) => c.spans), good: ['100', { ...bsp, scheduledDelayMillis: 100 }], bad: ['-1', bsp, true] },
  { name: 'OTEL_BSP_MAX_QUEUE_SIZE', read: agent((c) => c.spans), good: ['4096', { ...bsp, maxQueueSize: 4096 }], bad: ['lots', bsp, true] },
  { name: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', read: agent((c) => c.spans), good: ['64', { ...bsp, maxExportBatchSize: 64 }], bad: ['0', bsp, true] },
  { name: 'OTEL_BSP_EXPORT_TIMEOUT', read: agent((c) => c.spans), good: ['1000', { ...bsp, exportTimeoutMillis: 1000 }], bad: ['1.5', bsp, true] },
  { name: 'OTEL_BLRP_SCHEDULE_DELAY', read: agent((c) => c.logs), good: ['100', { ...blrp, scheduledDelayMillis: 100 }], bad: ['-1', blrp, true] },
  { name: 'OTEL_BLRP_MAX_QUEUE_SIZE', read: agent((c) => c.logs), good: ['4096', { ...blrp, maxQueueSize: 4096 }], bad: ['lots', blrp, true] },
  { name: 'OTEL_BLRP_MAX_EXPORT_BATCH_SIZE', read: agent((c) => c.logs), good: ['64', { ...blrp, maxExportBatchSize: 64 }], bad: ['0', blrp, true] },
  { name: 'OTEL_BLRP_EXPORT_TIMEOUT', read: agent((c) => c.logs), good: ['1000', { ...blrp, exportTimeoutMillis: 1000 }], bad: ['1.5', blrp, true] },
  { name: 'OTEL_NODE_ENABLED_INSTRUMENTATIONS', read: agent((c) => c.enabledInstrumentations), good: ['http,pg', ['http', 'pg']], bad: [' , ', undefined, false] },
  { name: 'OTEL_NODE_DISABLED_INSTRUMENTATIONS', read: agent((c) => [...c.disabledInstrumentations]), good: ['fs', ['fs']], bad: [' ', [], false] },
  { name: 'LOOKOUT_UPSTREAM_INSTRUMENTATIONS', read: agent((c) => [...c.upstreamInstrumentations]), good: ['PG', ['pg']], bad: ['mysql', [], true] },
  { name: 'LOOKOUT_REDACT_KEYS', read: agent((c) => c.redactKeys), good: ['iban, pin', ['iban', 'pin']], bad: [' ', [], false] },
  { name: 'LOOKOUT_REDACT_EMAILS', read: agent((c) => c.redactClasses.emails), good: ['false', false], bad: ['off', true, true] },
  { name: 'LOOKOUT_REDACT_PHONES', read: agent((c) => c.redactClasses.phones), good: ['FALSE', false], bad: ['0', true, true] },
  { name: 'LOOKOUT_REDACT_SSNS', read: agent((c) => c.redactClasses.ssns), good: ['false', false], bad: ['no', true, true] },
  { name: 'LOOKOUT_RESOURCE_COMMAND_ARGS', read: agent((c) => c.resourceCommandArgs), good: ['True', true], bad: ['on', false, true] },
  { name: 'LOOKOUT_RESPONSE_HEADERS', read: agent((c) => [...c.responseHeaders]), good: ['traceresponse', ['traceresponse']], bad: ['server-timing', [], true] },
  { name: 'LOOKOUT_SHUTDOWN_TIMEOUT_MS', read: agent((c) => c.shutdownTimeoutMillis), good: ['0', 0], bad: ['5s', 5000, true] },
  { name: 'LOOKOUT_LOG_LEVEL', read: library((c) => c.logLevel), good: ['Debug', 'debug'], bad: ['loud', 'info', true] },
  { name: 'LOOKOUT_AUDIT_URL', read: (env) => auditSettings(env).url, good: ['http://audit-api:8080', 'http://audit-api:8080'], bad: [' ', undefined, false] },
  { name: 'LOOKOUT_AUDIT_TOKEN', read: (env) => auditSettings(env).token, good: ['t0ken', 't0ken'], bad: [' ', undefined, false] },
  ...['', 'TRACES_', 'METRICS_', 'LOGS_'].flatMap((signal): Row[] => [
    {
      name: `OTEL_EXPORTER_OTLP_${signal}ENDPOINT`,
      read: upstream(`OTEL_EXPORTER_OTLP_${signal}ENDPOINT`),
      good: ['http://collector:4317', 'http://collector:4317'],
      bad: ['collector:4317', undefined, true],
    },
    { name: `OTEL_EXPORTER_OTLP_${signal}TIMEOUT`, read: upstream(`OTEL_EXPORTER_OTLP_${signal}TIMEOUT`), good: ['2000', '2000'], bad: ['-5', undefined, true] },
  ]),
  {
    name: 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
    // Left for upstream to read, but anything but cumulative warns: Prometheus takes cumulative only.
    read: upstream('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE'),
    good: ['Cumulative', 'Cumulative'],
    bad: ['delta', 'delta', true],
  },
];

describe('every configuration variable', () => {
  for (const { name, read, good, bad } of ROWS) {
    it(`${name}: takes "${good[0]}", and "${bad[0]}" ${bad[2] ? 'warns and ' : ''}gives the default`, () => {
      let value: unknown;
      let stderr = captureStderr(() => (value = read({ [name]: good[0] })));
      assert.deepEqual(value, good[1]);
      assert.equal(stderr, '', `a good ${name} warns nothing`);
      stderr = captureStderr(() => (value = read({ [name]: bad[0] })));
      assert.deepEqual(value, bad[1]);
      if (bad[2]) assert.match(stderr, new RegExp(`^\\[lookout\\] warning: ${name}\\b`), `a bad ${name} is named in one warning`);
      else assert.equal(stderr, '');
      if (bad[2]) assert.equal(stderr.trim().split('\n').length, 1, `one warning for ${name}: ${stderr}`);
    });
  }
});
