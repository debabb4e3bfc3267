// A page end to end on loopback, with real Prometheus and Alertmanager processes running our rules and our
// Alertmanager routing tree: the example services (gateway → runs → worker, agent preloaded) carry load from
// the traffic generator, `traffic inject errors` drives the runs service into a 5xx spike, the error-ratio
// rule fires, Alertmanager routes the page, and receivers in this test check route, labels and annotations.
//
// The hop this bridges: in the stack, the Collector pushes the agent's OTLP metrics to Prometheus's native
// OTLP endpoint. There is no Collector binary here, and Debian's Prometheus (2.42) has no OTLP receiver, so
// the services export to a real OTLP/gRPC receiver in this test, and a scrape endpoint serves what it
// received under the names and labels Prometheus's OTLP translation gives them (fixtures/otlp-to-prometheus.ts,
// with the resource attributes prometheus.yml promotes). What is changed from the committed files, and why:
// intervals of 1 s so the test takes seconds; the rules' `for:` set to 0 s (the promtool unit tests cover the
// durations); the PagerDuty and Slack receivers' integrations replaced by webhooks to this test, keeping
// their names and the routing tree.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import YAML from 'yaml';
import { eventually, type ExampleSystem, freePort, OtlpReceiver, PRELOAD, startExampleSystem } from '@lookout/testkit';
import { toExposition } from './fixtures/otlp-to-prometheus.js';
import { loadYaml, metricsCatalogue, path, ruleFiles } from './fixtures/repo.js';

interface Notification {
  path: string;
  receiver: string;
  status: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return { child, output: () => output };
}

describe('a page end to end (the example services, real Prometheus 2.42 and Alertmanager 0.25 on loopback)', function () {
  this.timeout(120_000);
  const otlp = new OtlpReceiver();
  const promoted = loadYaml('prometheus/prometheus.yml').otlp.promote_resource_attributes as string[];
  let system: ExampleSystem;
  let traffic: ReturnType<typeof startProcess>;
  const notifications: Notification[] = [];
  let scratch: string;
  let receiver: Server;
  let prometheus: ReturnType<typeof startProcess>;
  let alertmanager: ReturnType<typeof startProcess>;
  let promUrl: string;
  let amUrl: string;

  before(async function () {
    this.timeout(180_000);
    scratch = mkdtempSync(join(tmpdir(), 'lookout-page-'));
    await otlp.start();
    system = await startExampleSystem({ otlpEndpoint: otlp.endpoint });
    receiver = createServer((req, res) => {
      if (req.url === '/metrics') {
        res.setHeader('content-type', 'text/plain; version=0.0.4');
        res.end(toExposition(otlp.metrics, promoted));
        return;
      }
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        notifications.push({ path: req.url ?? '', ...(JSON.parse(body) as Omit<Notification, 'path'>) });
        res.end();
      });
    });
    const receiverPort = await listen(receiver);
    const base = `http://127.0.0.1:${receiverPort}`;
    const amPort = await freePort();
    const promPort = await freePort();
    amUrl = `http://127.0.0.1:${amPort}`;
    promUrl = `http://127.0.0.1:${promPort}`;

    // Alertmanager: the committed routing tree, short waits, integrations pointed at this test.
    const am = loadYaml('alertmanager/alertmanager.yml');
    am.templates = [path('alertmanager/templates/*.tmpl')];
    am.route.group_wait = '1s';
    am.route.group_interval = '1s';
    for (const r of am.receivers) {
      const integrations = Object.keys(r).filter((k) => k.endsWith('_configs'));
      for (const key of integrations) delete r[key];
      r.webhook_configs = [{ url: `${base}/${r.name}`, send_resolved: false }];
    }
    writeFileSync(join(scratch, 'alertmanager.yml'), YAML.stringify(am));
    alertmanager = startProcess('prometheus-alertmanager', [
      `--config.file=${join(scratch, 'alertmanager.yml')}`,
      `--storage.path=${join(scratch, 'am-data')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=', // no gossip port on 0.0.0.0:9094
    ]);

    // Prometheus: the committed rules with `for: 0s`, scraping the bridge every second.
    const ruleCopies = ruleFiles().map((file, i) => {
      const doc = loadYaml(file);
      for (const group of doc.groups) {
        group.interval = '1s';
        for (const rule of group.rules) if (rule.alert) rule.for = '0s';
      }
      const copy = join(scratch, `rules-${i}.yml`);
      writeFileSync(copy, YAML.stringify(doc));
      return copy;
    });
    const promConfig = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ruleCopies,
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      // honor_labels: the series carry job and instance already, as OTLP-translated series do.
      scrape_configs: [{ job_name: 'otlp-bridge', honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${receiverPort}`] }] }],
    };
    writeFileSync(join(scratch, 'prometheus.yml'), YAML.stringify(promConfig));
    prometheus = startProcess('prometheus', [
      `--config.file=${join(scratch, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(scratch, 'prom-data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ]);

    await eventually(`Alertmanager ready\n${alertmanager.output()}`, () => fetch(`${amUrl}/-/ready`).then((r) => r.ok || undefined, () => undefined), 30_000);
    await eventually(`Prometheus ready\n${prometheus.output()}`, () => fetch(`${promUrl}/-/ready`).then((r) => r.ok || undefined, () => undefined), 30_000);
    // Steady load through the gateway, as the compose stack's traffic service runs it.
    traffic = startProcess(process.execPath, [...PRELOAD, 'dist/src/traffic.js', 'run', '--rps', '20'], {
      cwd: path('examples'),
      env: { PATH: process.env.PATH, ...system.common, OTEL_SERVICE_NAME: 'traffic', GATEWAY_URL: system.gateway.url },
    });
  });

  after(async () => {
    traffic?.child.kill('SIGTERM');
    await system?.stop();
    await otlp.stop();
    prometheus?.child.kill('SIGKILL');
    alertmanager?.child.kill('SIGKILL');
    receiver?.closeAllConnections();
    receiver?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  async function firing(): Promise<Record<string, string>[]> {
    const res = await fetch(`${promUrl}/api/v1/alerts`);
    const body = (await res.json()) as { data: { alerts: { state: string; labels: Record<string, string> }[] } };
    return body.data.alerts.filter((a) => a.state === 'firing').map((a) => a.labels);
  }

  it('stays quiet while the services answer well', async () => {
    // Healthy traffic until Prometheus has scraped it and evaluated the rules (its first scrape takes ~6 s here).
    await eventually('the error ratio of the runs service evaluated', async () => {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('service:http_server_errors:ratio_rate5m{service="runs"}')}`);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      return body.data.result.length > 0 ? body.data.result : undefined;
    }, 60_000);
    assert.deepEqual((await firing()).filter((a) => ['gateway', 'runs', 'worker'].includes(a.service!)), []);
  });

  it('bridges only metrics docs/metrics.md catalogues, under the names it gives', () => {
    const { exact, patterns } = metricsCatalogue();
    const families = [...toExposition(otlp.metrics, promoted).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    assert.ok(families.includes('http_server_request_duration_seconds'), families.join(', '));
    // A histogram is catalogued as `x_bucket` or `x_*` (its `_bucket`, `_sum` and `_count` series).
    const unknown = families.filter((name) => !exact.has(name) && !exact.has(`${name}_bucket`) && !patterns.some((pattern) => pattern.test(name) || pattern.test(`${name}_bucket`)));
    assert.deepEqual(unknown, [], 'exported by the services but not in docs/metrics.md');
  });

  it('pages PagerDuty and the webhook on a 5xx spike of the runs service, with service, severity, runbook and dashboard', async () => {
    const inject = startProcess(process.execPath, [...PRELOAD, 'dist/src/traffic.js', 'inject', 'errors', '--service', 'runs', '--ratio', '0.6', '--for', '2m'], {
      cwd: path('examples'),
      env: { PATH: process.env.PATH, OTEL_SDK_DISABLED: 'true', RUNS_URL: system.runs.url },
    });
    assert.equal(await new Promise((resolve) => inject.child.on('exit', resolve)), 0, inject.output());
    const page = await eventually(
      'ServiceHighErrorRatio for the runs service sent to the pagerduty receiver',
      () => notifications.find((n) => n.path === '/pagerduty' && n.alerts.some((a) => a.labels.alertname === 'ServiceHighErrorRatio' && a.labels.service === 'runs')),
      60_000,
    );
    const alert = page.alerts.find((a) => a.labels.alertname === 'ServiceHighErrorRatio' && a.labels.service === 'runs')!;
    assert.equal(page.receiver, 'pagerduty');
    assert.equal(alert.status, 'firing');
    assert.equal(alert.labels.service, 'runs');
    assert.equal(alert.labels.severity, 'critical');
    assert.match(alert.annotations.runbook_url!, /docs\/runbooks\/ServiceHighErrorRatio\.md$/);
    assert.match(alert.annotations.dashboard_url!, /\/d\/lookout-service-overview\?var-service=runs$/);
    assert.ok(alert.annotations.summary && alert.annotations.description);
    // The generic webhook receives every page too.
    await eventually('the same alert at the webhook receiver', () => notifications.find((n) => n.path === '/webhook' && n.alerts.some((a) => a.labels.alertname === 'ServiceHighErrorRatio')), 30_000);
    assert.ok(!notifications.some((n) => n.path === '/slack' && n.alerts.some((a) => a.labels.alertname === 'ServiceHighErrorRatio')), 'a critical alert does not go to Slack');
  });

  it('holds back a warning of the service while its critical alert fires (inhibition)', async () => {
    // Posted straight to Alertmanager's API, so the check does not depend on rule timing.
    const now = new Date().toISOString();
    const post = (labels: Record<string, string>) =>
      fetch(`${amUrl}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ labels, startsAt: now, annotations: { summary: 'test' } }]) });
    await post({ alertname: 'ServiceHighLatencyP99', severity: 'critical', service: 'payments' });
    await post({ alertname: 'ServiceHighLatencyP95', severity: 'warning', service: 'payments' });
    await post({ alertname: 'ServiceHighLatencyP95', severity: 'warning', service: 'search' });
    const states = await eventually('both warnings known to Alertmanager', async () => {
      // Only the two posted: under load the real latency rule may fire its own warning for an example service.
      const filters = ['alertname="ServiceHighLatencyP95"', 'service=~"payments|search"'].map((f) => `filter=${encodeURIComponent(f)}`).join('&');
      const res = await fetch(`${amUrl}/api/v2/alerts?${filters}`);
      const alerts = (await res.json()) as { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } }[];
      return alerts.length === 2 && alerts.every((a) => a.labels.service !== 'payments' || a.status.state === 'suppressed') ? alerts : undefined;
    }, 20_000);
    const byService = Object.fromEntries(states.map((a) => [a.labels.service, a.status]));
    assert.equal(byService.payments!.state, 'suppressed');
    assert.ok(byService.payments!.inhibitedBy.length > 0);
    assert.equal(byService.search!.state, 'active', 'a warning of another service is not held back');
  });
});
