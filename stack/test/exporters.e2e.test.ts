// The stack's metric sources besides the services' own OTLP: the host (the Collector's host_metrics receiver,
// job "lookout/host"), PostgreSQL (postgres-exporter, job "postgres") and the services' health endpoints from
// outside (blackbox-exporter, jobs probe-health, probe-db, probe-dependencies), each program real and run by
// testkit's startStack with the committed configuration rendered for loopback, into the real Prometheus.
// Stand-ins: every probed service is one small HTTP server here (/health 200, /health/db a JSON 503,
// /health/dependencies a redirect); PostgreSQL is the test server, postgres-exporter limited to a fresh
// database of this test (compose names audit and runs).
// Not checked: the host as seen from a container (compose mounts / at /hostfs; here the receiver reads / itself).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'mocha';
import pg from 'pg';
import { createTestDatabase, eventually, type RunningStack, startStack, stackVersions, type TestDatabase } from '@lookout/testkit';
import { loadYaml } from './fixtures/repo.js';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const versions = stackVersions();
const PROBE_JOBS = ['probe-health', 'probe-db', 'probe-dependencies'];

/** The compose services the probe jobs name, with the address each is probed at (`gateway:8081`). */
function probedServices(): Map<string, string> {
  const jobs = loadYaml('prometheus/prometheus.yml').scrape_configs.filter((job: any) => PROBE_JOBS.includes(job.job_name));
  const out = new Map<string, string>();
  for (const job of jobs) {
    for (const group of job.static_configs) for (const target of group.targets) out.set(group.labels.service, new URL(target).host);
  }
  return out;
}

describe(`host, PostgreSQL and probe metrics into Prometheus ${versions.PROMETHEUS_VERSION} (Collector ${versions.COLLECTOR_VERSION} host_metrics, postgres_exporter ${versions.POSTGRES_EXPORTER_VERSION}, blackbox_exporter ${versions.BLACKBOX_EXPORTER_VERSION})`, function () {
  this.timeout(120_000);
  let stack: RunningStack;
  let services: Server;
  let database: TestDatabase;

  const query = async (promql: string): Promise<Sample[]> => {
    const res = await fetch(`${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: Sample[] }; error?: string };
    assert.equal(body.status, 'success', `${promql}: ${body.error}`);
    return body.data.result;
  };
  const present = (promql: string, what = promql) =>
    eventually(what, async () => {
      const result = await query(promql);
      return result.length > 0 ? result : undefined;
    }, 60_000);
  /** Metric names of a selector, for the failure message and for those who write rules on them. */
  const names = async (selector: string) => (await query(`group by (__name__) (${selector})`)).map((s) => s.metric.__name__!).sort();

  before(async function () {
    this.timeout(180_000);
    // Every service the probe jobs name answers here, as a real one does: 200 on /health, a JSON 503 on
    // /health/db, and a redirect elsewhere on /health/dependencies (a probe does not follow it).
    services = createServer((req, res) => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/health') return json(200, { status: 'ok' });
      if (req.url === '/health/db') return json(503, { status: 'unavailable', checks: { database: 'down' } });
      if (req.url === '/health/dependencies') return json(302, {}, { location: 'http://elsewhere.invalid/health' });
      json(404, { error: { code: 'not_found', message: req.url } });
    });
    await new Promise<void>((resolve) => services.listen(0, '127.0.0.1', resolve));
    const local = `127.0.0.1:${(services.address() as AddressInfo).port}`;

    database = await createTestDatabase('lookout_exporters_test');
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('create table events (id bigint primary key, body text); insert into events select g, repeat(\'x\', 200) from generate_series(1, 2000) g');
    await client.end();

    stack = await startStack({
      exporters: true,
      elsewhere: Object.fromEntries([...probedServices().values()].map((address) => [address, local])),
      flags: { 'postgres-exporter': (flags) => flags.map((f) => (f.startsWith('--include-databases=') ? `--include-databases=${database.name}` : f)) },
      prometheusConfig: (config) => {
        config.global.scrape_interval = '1s';
        for (const job of config.scrape_configs) delete job.scrape_interval;
      },
    });
  });

  after(async () => {
    await stack?.stop();
    await database?.drop();
    await new Promise((resolve) => services?.close(resolve));
  });

  it('receives the host\'s filesystem, memory, CPU and load metrics from the Collector as job="lookout/host", without pseudo filesystems', async () => {
    const selector = '{job="lookout/host"}';
    await present(`system_filesystem_usage_bytes${selector}`, 'the host\'s filesystem usage in Prometheus');
    const seen = await names(selector);
    for (const name of ['system_filesystem_usage_bytes', 'system_filesystem_utilization_ratio', 'system_filesystem_inodes_usage', 'system_memory_usage_bytes', 'system_cpu_time_seconds_total', 'system_cpu_load_average_1m', 'system_cpu_load_average_5m', 'system_cpu_load_average_15m']) {
      assert.ok(seen.includes(name), `${name} among ${seen.join(', ')}`);
    }
    const root = await query(`system_filesystem_utilization_ratio{job="lookout/host", mountpoint="/"}`);
    assert.equal(root.length, 1, 'the root filesystem, once');
    const ratio = Number(root[0]!.value[1]);
    assert.ok(ratio > 0 && ratio < 1, `utilization is a fraction: ${ratio}`);
    assert.deepEqual(await query('system_filesystem_usage_bytes{job="lookout/host", type=~"tmpfs|devtmpfs|proc|sysfs|overlay|cgroup2?|squashfs"}'), []);
    assert.deepEqual(await query('system_filesystem_usage_bytes{job="lookout/host", mountpoint=~"/(dev|proc|sys|run)(/.*)?"}'), []);
    const memory = await query('system_memory_usage_bytes{job="lookout/host"}');
    assert.ok(memory.some((s) => s.metric.state === 'used'), JSON.stringify(memory.map((s) => s.metric)));
    const labels = memory[0]!.metric;
    assert.equal(labels.service_namespace, 'lookout');
    assert.equal(labels.service_name, 'host');
    assert.ok(labels.instance, 'instance = service.instance.id = the host name');
    // Only the host's pipeline carries service.name=host: the services' own metrics keep their names.
    assert.deepEqual(await query('system_memory_usage_bytes{job!="lookout/host"}'), []);
    console.log(`      host series names: ${seen.join(', ')}; labels of memory: ${Object.keys(labels).sort().join(', ')}`);
  });

  it('scrapes postgres-exporter as job="postgres": pg_up, settings, per-database statistics and sizes, per-table sizes', async () => {
    await present('pg_up{job="postgres"} == 1', 'pg_up 1');
    const db = `datname="${database.name}"`;
    const expect = [
      'pg_settings_max_connections{job="postgres"}',
      `pg_database_size_bytes{job="postgres", ${db}}`,
      `pg_stat_database_blks_hit{job="postgres", ${db}}`,
      `pg_stat_database_blks_read{job="postgres", ${db}}`,
      `pg_stat_database_xact_commit{job="postgres", ${db}}`,
      `pg_stat_database_xact_rollback{job="postgres", ${db}}`,
      `pg_stat_database_deadlocks{job="postgres", ${db}}`,
      `pg_stat_database_numbackends{job="postgres", ${db}}`,
      `pg_stat_user_tables_total_size_bytes{job="postgres", ${db}, relname="events"}`,
      `pg_stat_user_tables_n_live_tup{job="postgres", ${db}, relname="events"}`,
    ];
    for (const promql of expect) await present(promql);
    assert.ok(Number((await query('pg_settings_max_connections{job="postgres"}'))[0]!.value[1]) > 0);
    const size = Number((await query(`pg_stat_user_tables_total_size_bytes{${db}, relname="events"}`))[0]!.value[1]);
    assert.ok(size > 400_000, `2000 rows of 200 bytes and an index: ${size} bytes`);
    assert.ok(Number((await query(`pg_database_size_bytes{${db}}`))[0]!.value[1]) > size);
    // One series per database: no duplicates from the auto-discovered connection.
    assert.equal((await query(`pg_stat_database_xact_commit{${db}}`)).length, 1);
    console.log(`      postgres-exporter series names: ${(await names('{job="postgres"}')).filter((n) => /^pg_(up|settings_max_connections|database_|stat_database_|stat_user_tables_)/.test(n)).join(', ')}`);
  });

  it('probes every service: probe_success 1 for a 200 on /health, 0 for a JSON 503 on /health/db and for a redirect on /health/dependencies', async () => {
    const shipped = [...probedServices().keys()].sort();
    assert.deepEqual(shipped, ['alert-webhook', 'audit-api', 'gateway', 'runs', 'worker']);
    /** probe_success by service once every service of the job has been probed (and, for /health, succeeded). */
    const success = (job: string, settled: (value: number) => boolean = () => true) =>
      eventually(`probe_success of ${job} for every service`, async () => {
        const found = Object.fromEntries((await query(`probe_success{job="${job}"}`)).map((s) => [s.metric.service!, Number(s.value[1])]));
        return shipped.every((service) => service in found && settled(found[service]!)) ? found : undefined;
      }, 60_000);
    const expected = (value: number) => Object.fromEntries(shipped.map((service) => [service, value]));
    assert.deepEqual(await success('probe-health', (v) => v === 1), expected(1));
    assert.deepEqual(await success('probe-db'), expected(0));
    assert.deepEqual(await success('probe-dependencies'), expected(0));
    // The standard blackbox relabelling: instance is the probed URL, the scrape went to the exporter.
    const health = await query('probe_success{job="probe-health", service="gateway"}');
    assert.match(health[0]!.metric.instance!, /^http:\/\/127\.0\.0\.1:\d+\/health$/);
    assert.deepEqual((await query('probe_http_status_code{job="probe-db", service="gateway"}'))[0]!.value[1], '503');
    await present('up{job="blackbox-exporter"} == 1', 'the exporter\'s own metrics scraped');
  });
});
