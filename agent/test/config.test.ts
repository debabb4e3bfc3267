import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseResourceAttributes } from '../src/config.js';

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
});
