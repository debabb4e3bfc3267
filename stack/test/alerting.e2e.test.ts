// A page end to end on loopback, through the stack's real programs built from their Go modules: the example
// services (gateway → runs → worker, agent preloaded) export OTLP to the Collector (collector/config.yaml),
// which pushes metrics to Prometheus's native OTLP endpoint (prometheus/prometheus.yml, its promoted resource
// attributes); Prometheus runs our rules and sends to Alertmanager (alertmanager/alertmanager.yml, our
// templates). The traffic generator carries load, `traffic inject errors` drives the runs service into a 5xx
// spike, the error-ratio rule fires, Alertmanager routes the page, and receivers in this test check route,
// labels and annotations. What is changed from the committed files, and why: evaluation and scrape intervals of
// 1 s so the test takes seconds; the rules' `for:` set to 0 s (the promtool unit tests cover the durations);
// the PagerDuty, Slack and Teams receivers' integrations replaced by webhooks to this test, keeping their names
// and the routing tree; the email receiver kept as it is, speaking SMTP to a real SMTP server in this test
// (smtp-server, nodemailer's) in place of the compose stack's mailpit. Addresses and paths are rendered for
// loopback (testkit's startStack). Beyond the 5xx page, the example services drive the alerts on a worker
// queue that grows past its threshold and on a runs service that loses its database (a TCP proxy cut).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { randomUUID } from 'node:crypto';
import { SMTPServer } from 'smtp-server';
import YAML from 'yaml';
import { call, eventually, examplePorts, type ExamplePorts, type ExampleSystem, PRELOAD, type RunningApp, type RunningStack, SERVER_URL, startExampleSystem, startStack, startTcpProxy, stackBinary, stackVersions, type TcpProxy } from '@lookout/testkit';
import { loadYaml, metricsCatalogue, path, queries, ruleFiles } from './fixtures/repo.js';

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

const versions = stackVersions();

describe(`a page end to end (the example services, the Collector ${versions.COLLECTOR_VERSION}, Prometheus ${versions.PROMETHEUS_VERSION} and Alertmanager ${versions.ALERTMANAGER_VERSION} on loopback)`, function () {
  this.timeout(120_000);
  let system: ExampleSystem;
  let stack: RunningStack;
  let traffic: ReturnType<typeof startProcess>;
  const notifications: Notification[] = [];
  let scratch: string;
  let receiver: Server;
  let promUrl: string;
  let amUrl: string;
  let smtp: SMTPServer;
  const mails: { from: string; to: string[]; raw: string }[] = [];
  let dbProxy: TcpProxy;
  let ports: ExamplePorts;

  before(async function () {
    this.timeout(180_000);
    scratch = mkdtempSync(join(tmpdir(), 'lookout-page-'));
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        notifications.push({ path: req.url ?? '', ...(JSON.parse(body) as Omit<Notification, 'path'>) });
        res.end();
      });
    });
    const base = `http://127.0.0.1:${await listen(receiver)}`;
    // A real SMTP server: Alertmanager's email integration speaks SMTP to it (no TLS, as with mailpit).
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        let raw = '';
        stream.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw });
          callback();
        });
      },
    });
    const smtpPort = await new Promise<number>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve((smtp.server.address() as AddressInfo).port)));

    // The committed rules with `for: 0s`, evaluated every second.
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
    // The example services' ports are chosen first, so the probe jobs of prometheus.yml reach them at the
    // addresses compose gives them (gateway:8081 …); alert-webhook is not run here, so its probes fail.
    const example = await examplePorts();
    ports = example.ports;
    stack = await startStack({
      ruleFiles: ruleCopies,
      exporters: true,
      elsewhere: example.elsewhere,
      prometheusConfig: (config) => {
        config.global.scrape_interval = '1s';
        config.global.evaluation_interval = '1s';
        // The probe jobs' own 30/60/120 s cadence too.
        for (const job of config.scrape_configs) delete job.scrape_interval;
      },
      // Short waits; every receiver's integrations pointed at this test, under the receiver's own name.
      alertmanagerConfig: (am) => {
        am.route.group_wait = '1s';
        am.route.group_interval = '1s';
        am.global.smtp_smarthost = `127.0.0.1:${smtpPort}`;
        for (const r of am.receivers) {
          if (r.email_configs) continue;
          for (const key of Object.keys(r).filter((k) => k.endsWith('_configs'))) delete r[key];
          r.webhook_configs = [{ url: `${base}/${r.name}`, send_resolved: false }];
        }
      },
    });
    promUrl = stack.prometheusUrl;
    amUrl = stack.alertmanagerUrl;
    system = await startExampleSystem({ otlpEndpoint: stack.otlpEndpoint, ports });
    // Steady load through the gateway, as the compose stack's traffic service runs it.
    traffic = startProcess(process.execPath, [...PRELOAD, 'dist/src/traffic.js', 'run', '--rps', '20'], {
      cwd: path('examples'),
      env: { PATH: process.env.PATH, ...system.common, OTEL_SERVICE_NAME: 'traffic', GATEWAY_URL: system.gateway.url },
    });
  });

  after(async () => {
    traffic?.child.kill('SIGTERM');
    await system?.stop();
    await stack?.stop();
    receiver?.closeAllConnections();
    receiver?.close();
    await dbProxy?.close();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
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
    // The stack starts before the services (they need its OTLP endpoint), so their first probes fail and, with
    // `for: 0s`, alert at once; quiet means: once the probes reach the running services, nothing fires for them.
    await eventually('no alert firing for gateway, runs or worker', async () => {
      const loud = (await firing()).filter((a) => ['gateway', 'runs', 'worker'].includes(a.service!));
      return loud.length === 0 || undefined;
    }, 60_000);
  });

  it('ingests through the Collector only metrics docs/metrics.md catalogues, under the names Prometheus gives them', async () => {
    const { exact, patterns } = metricsCatalogue();
    const match = encodeURIComponent('{service_namespace="lookout-examples"}');
    const names = await eventually('the services\' metric names in Prometheus', async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/label/__name__/values?match[]=${match}`)).json()) as { data: string[] };
      return body.data.includes('http_server_request_duration_seconds_bucket') ? body.data : undefined;
    }, 30_000);
    // target_info carries the resource; a histogram's _sum and _count go with its catalogued _bucket.
    const unknown = names
      .filter((name) => name !== 'target_info')
      .map((name) => (/_(sum|count)$/.test(name) && names.includes(name.replace(/_(sum|count)$/, '_bucket')) ? name.replace(/_(sum|count)$/, '_bucket') : name))
      .filter((name) => !exact.has(name) && !exact.has(name.replace(/_bucket$/, '')) && !patterns.some((pattern) => pattern.test(name)));
    assert.deepEqual([...new Set(unknown)], [], 'exported by the services but not in docs/metrics.md');
  });

  it('answers every PromQL query of the rules, dashboards and datasource links as Grafana sends it (POST /api/v1/query), without an error', async () => {
    // Grafana's variables as it fills them: intervals as durations, every other variable with a service name.
    const filled = (text: string) =>
      text
        .replace(/\$__(rate_interval|interval)\b/g, '1m')
        .replace(/\$__range\b/g, '1h')
        .replace(/\$\{__tags\}|\$__tags/g, 'service_name="runs"')
        .replace(/\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*/g, 'runs');
    const promql = queries().filter((q) => q.language === 'promql');
    await eventually('five minutes of request rates recorded', async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('service:http_server_requests:rate5m')}`)).json()) as { data: { result: unknown[] } };
      return body.data.result.length > 0 || undefined;
    }, 60_000);
    assert.ok(promql.length > 50, `${promql.length} PromQL queries`);
    const failures: string[] = [];
    const empty: string[] = [];
    for (const q of promql) {
      const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ query: filled(q.text) }) });
      const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
      if (body.status !== 'success') failures.push(`${q.where}: ${body.error}\n  ${filled(q.text)}`);
      else if ((body.data?.result.length ?? 0) === 0) empty.push(`${q.where}: ${filled(q.text)}`);
    }
    assert.deepEqual(failures, []);
    // Data: an alert's expression has none unless it fires, and many panels read metrics of programs not run here
    // (Loki, Tempo) or of failures not provoked yet. The recording rules over the services' own requests, but the
    // 5xx rate (no errors yet), must have it.
    const recorded = empty.filter((e) => e.startsWith('prometheus/rules/recording.yml') && e.includes('http_server_request_duration_seconds') && !e.includes('"5.."'));
    assert.deepEqual(recorded, [], 'recording rules over the services\' requests returned no data');
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
    // The links, from the external labels the compose defaults give LOOKOUT_RUNBOOK_URL and LOOKOUT_GRAFANA_URL.
    assert.equal(alert.annotations.runbook_url, 'http://localhost:3000/public/runbooks/ServiceHighErrorRatio.md');
    assert.equal(alert.annotations.dashboard_url, 'http://localhost:3000/d/lookout-service-overview?var-service=runs');
    assert.ok(alert.annotations.summary && alert.annotations.description);
    // The generic webhook receives every page too.
    await eventually('the same alert at the webhook receiver', () => notifications.find((n) => n.path === '/webhook' && n.alerts.some((a) => a.labels.alertname === 'ServiceHighErrorRatio')), 30_000);
    assert.ok(!notifications.some((n) => n.path === '/slack' && n.alerts.some((a) => a.labels.alertname === 'ServiceHighErrorRatio')), 'a critical alert does not go to Slack');
  });

  it('groups the injected failures into one issue: lookout_errors_total by fingerprint, type and release, and NewErrorFingerprint reaches Alertmanager (Slack, or held back while the same service\'s page fires)', async () => {
    // The 5xx spike above threw the same HttpError from the fault middleware on every failed request: one fingerprint.
    const series = await eventually('the runs service\'s errors in Prometheus', async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('lookout_errors_total{service_name="runs"}')}`)).json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return body.data.result.length > 0 ? body.data.result : undefined;
    }, 30_000);
    // HttpError names itself after its code: the exception type is the fault's code.
    const issue = series.find((s) => s.metric.exception_type === 'injected_fault')!;
    assert.ok(issue, JSON.stringify(series.map((s) => s.metric)));
    assert.match(issue.metric.exception_fingerprint!, /^[0-9a-f]{16}$/);
    assert.equal(issue.metric.service_version, '0.1.0', 'the release, promoted from the resource');
    assert.ok(Number(issue.value[1]) > 10, `${issue.value[1]} failures counted`);
    assert.equal(series.filter((s) => s.metric.exception_type === 'injected_fault').length, 1, 'one issue, not one per request');
    // A warning for Slack; while the runs service's 5xx page (critical, same service) still fires, Alertmanager
    // holds it back by inhibition, which is the routing tree's intent. Either way it reached Alertmanager.
    const alert = await eventually('NewErrorFingerprint for the runs service in Alertmanager', async () => {
      const filter = `filter=${encodeURIComponent('alertname="NewErrorFingerprint"')}&filter=${encodeURIComponent('service="runs"')}`;
      const alerts = (await (await fetch(`${amUrl}/api/v2/alerts?${filter}`)).json()) as {
        labels: Record<string, string>;
        annotations: Record<string, string>;
        status: { state: string; inhibitedBy: string[] };
      }[];
      return alerts.find((a) => a.labels.exception_fingerprint === issue.metric.exception_fingerprint);
    }, 30_000);
    assert.equal(alert.labels.severity, 'warning');
    assert.equal(alert.annotations.dashboard_url, `http://localhost:3000/d/lookout-errors?var-service=runs&var-fingerprint=${issue.metric.exception_fingerprint}`);
    if (alert.status.state === 'suppressed') assert.ok(alert.status.inhibitedBy.length > 0, 'held back by the critical page, not silenced');
    else await eventually('NewErrorFingerprint at the slack receiver', () => notifications.find((n) => n.path === '/slack' && n.alerts.some((a) => a.labels.alertname === 'NewErrorFingerprint')), 30_000);
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

  const postAlert = (labels: Record<string, string>) =>
    fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ labels, startsAt: new Date().toISOString(), annotations: { summary: `${labels.alertname} test`, runbook_url: 'r', dashboard_url: 'd' } }]),
    });

  it('sends the non-urgent tier (severity info) by email, over SMTP, to the configured address and nowhere that pages', async () => {
    await postAlert({ alertname: 'TicketOnlyCheck', severity: 'info', service: 'billing' });
    const mail = await eventually('an email about TicketOnlyCheck', () => mails.find((m) => m.raw.includes('TicketOnlyCheck')), 30_000);
    const am = loadYaml('alertmanager/alertmanager.yml');
    assert.equal(mail.from, am.global.smtp_from);
    assert.deepEqual(mail.to, [am.receivers.find((r: { name: string }) => r.name === 'email').email_configs[0].to]);
    assert.match(mail.raw, /^Subject: \[FIRING:1\] TicketOnlyCheck billing \(info\)/m);
    await eventually('the webhook copy', () => notifications.find((n) => n.path === '/webhook' && n.alerts.some((a) => a.labels.alertname === 'TicketOnlyCheck')), 20_000);
    assert.ok(!notifications.some((n) => ['/pagerduty', '/slack'].includes(n.path) && n.alerts.some((a) => a.labels.alertname === 'TicketOnlyCheck')));
  });

  it('sends to Microsoft Teams only the alerts carrying lookout_notify_msteams="true" (the external label LOOKOUT_NOTIFY_MSTEAMS sets)', async () => {
    await postAlert({ alertname: 'TeamsOptIn', severity: 'warning', service: 'teams-on', lookout_notify_msteams: 'true' });
    await postAlert({ alertname: 'TeamsOptIn', severity: 'warning', service: 'teams-off' });
    await eventually('TeamsOptIn for teams-on at the msteams receiver', () => notifications.find((n) => n.path === '/msteams' && n.alerts.some((a) => a.labels.service === 'teams-on')), 30_000);
    await eventually('both at Slack', () => ['teams-on', 'teams-off'].every((svc) => notifications.some((n) => n.path === '/slack' && n.alerts.some((a) => a.labels.service === svc))) || undefined, 30_000);
    assert.ok(!notifications.some((n) => n.path === '/msteams' && n.alerts.some((a) => a.labels.service === 'teams-off')));
  });

  it('holds back a page during a maintenance silence made with amtool, as docs/sre-path.md describes', async () => {
    const amtool = startProcess(join(dirname(stackBinary('alertmanager')), 'amtool'), [
      `--alertmanager.url=${amUrl}`, 'silence', 'add', 'service=maintained', '--duration=15m', '--author=e2e', '--comment=maintenance: database upgrade',
    ]);
    assert.equal(await new Promise((resolve) => amtool.child.on('exit', resolve)), 0, amtool.output());
    const silenceId = amtool.output().trim();
    await postAlert({ alertname: 'ServiceHighErrorRatio', severity: 'critical', service: 'maintained' });
    const state = await eventually('the page silenced', async () => {
      const res = await fetch(`${amUrl}/api/v2/alerts?filter=${encodeURIComponent('service="maintained"')}`);
      const alerts = (await res.json()) as { status: { state: string; silencedBy: string[] } }[];
      return alerts[0]?.status.state === 'suppressed' ? alerts[0].status : undefined;
    }, 20_000);
    assert.deepEqual(state.silencedBy, [silenceId]);
  });

  it('fires QueueDepthHigh from a worker whose real queue holds more than the threshold (warning: Slack)', async () => {
    const threshold = 1000;
    // One job at a time, each taking a minute: every job posted beyond the first waits in the queue.
    const slow = await system.spawnExample('worker', { PORT: '0', RUNS_URL: system.runs.url, WORKER_CONCURRENCY: '1', WORKER_WORK_MS: '60000-60001', WORKER_MAX_QUEUED: '5000', OTEL_METRIC_EXPORT_INTERVAL: '1000' });
    for (let sent = 0; sent < threshold + 50; sent += 50) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, () => call(slow.url, 'POST', '/jobs', { body: { run_id: randomUUID(), tenant_id: 'acme', workflow_id: 'nightly' } })),
      );
      assert.ok(replies.every((r) => r.status === 202), `worker answered ${replies.find((r) => r.status !== 202)?.status}`);
    }
    const note = await eventually(
      'QueueDepthHigh for the worker at the slack receiver',
      () => notifications.find((n) => n.path === '/slack' && n.alerts.some((a) => a.labels.alertname === 'QueueDepthHigh' && a.labels.service === 'worker')),
      60_000,
    );
    const alert = note.alerts.find((a) => a.labels.alertname === 'QueueDepthHigh')!;
    assert.equal(alert.labels.queue, 'workflow-runs');
    assert.ok(Number(alert.annotations.value) > threshold, alert.annotations.value);
    await slow.stop();
  });

  it('fires DatabaseConnectionFailures (critical: PagerDuty) when a runs service loses its database', async () => {
    const server = new URL(SERVER_URL);
    dbProxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) });
    const viaProxy = new URL(system.runsDb.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(dbProxy.port);
    const runs: RunningApp = await system.spawnExample('runs', { PORT: '0', WORKER_URL: system.worker.url, DATABASE_URL: viaProxy.toString(), OTEL_METRIC_EXPORT_INTERVAL: '1000' });
    const headers = { 'x-tenant-id': 'acme', 'x-user-id': 'e2e' };
    assert.equal((await call(runs.url, 'GET', '/runs', { headers })).status, 200);
    await dbProxy.cut();
    const page = await eventually(
      'DatabaseConnectionFailures for the runs service at the pagerduty receiver',
      async () => {
        await call(runs.url, 'GET', '/runs', { headers }); // each call tries for a connection and fails
        return notifications.find((n) => n.path === '/pagerduty' && n.alerts.some((a) => a.labels.alertname === 'DatabaseConnectionFailures' && a.labels.service === 'runs'));
      },
      60_000,
    );
    const alert = page.alerts.find((a) => a.labels.alertname === 'DatabaseConnectionFailures')!;
    assert.equal(alert.labels.severity, 'critical');
    assert.match(alert.annotations.runbook_url!, /\/DatabaseConnectionFailures\.md$/);
    const health = await call(runs.url, 'GET', '/health/db');
    assert.equal(health.status, 503, 'the service says so on /health/db too');
    await runs.stop();
  });

  it('pages AuthServiceDown when the gateway (it checks API keys) stops answering its /health probe', async () => {
    const probe = 'probe_success{job="probe-health", service="gateway"}';
    await eventually('the gateway probed and up', async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(probe)}`)).json()) as { data: { result: { value: [number, string] }[] } };
      return body.data.result[0]?.value[1] === '1' || undefined;
    }, 30_000);
    assert.ok(!(await firing()).some((a) => a.alertname === 'AuthServiceDown' && a.service === 'gateway'), 'quiet while it answers');
    // Notifications from here on (the services' start-up may have sent one before they answered).
    const since = notifications.length;
    await system.gateway.stop();
    const page = await eventually(
      'AuthServiceDown (firing) for the gateway at the pagerduty receiver',
      () =>
        notifications
          .slice(since)
          .find((n) => n.path === '/pagerduty' && n.alerts.some((a) => a.labels.alertname === 'AuthServiceDown' && a.labels.service === 'gateway' && a.status === 'firing')),
      60_000,
    );
    const alert = page.alerts.find((a) => a.labels.alertname === 'AuthServiceDown')!;
    assert.equal(alert.labels.severity, 'critical');
    assert.match(alert.labels.instance!, /\/health$/);
    // alert-webhook is never started here: an internal service down is a warning, for Slack (and its failing
    // /health/db probe does not page as a database problem, which would also hold the warning back).
    await eventually('InternalServiceDown for alert-webhook at the slack receiver', () => notifications.find((n) => n.path === '/slack' && n.alerts.some((a) => a.labels.alertname === 'InternalServiceDown' && a.labels.service === 'alert-webhook')), 30_000);
    assert.ok(!notifications.some((n) => n.alerts.some((a) => a.labels.alertname === 'ServiceDatabaseCheckFailing' && a.labels.service === 'alert-webhook')));
  });
});
