// Prometheus and Alertmanager configuration through the real tools at the pinned versions: promtool (check
// config, check rules, test rules) and amtool (check-config, routes test), built from their Go modules by
// scripts/build-stack.sh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'mocha';
import YAML from 'yaml';
import { stackBinary, stackVersions } from '@lookout/testkit';
import { filesIn, loadYaml, path, ruleFiles, rules } from './fixtures/repo.js';

const run = promisify(execFile);
const versions = stackVersions();

/** The tool's standard output (and error, unless `stdoutOnly`), or an error with both. */
async function tool(command: 'promtool' | 'amtool', args: string[], cwd?: string, stdoutOnly = false): Promise<string> {
  try {
    const { stdout, stderr } = await run(stackBinary(command), args, { cwd });
    return stdoutOnly ? stdout : `${stdout}${stderr}`;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

describe(`Prometheus configuration (promtool ${versions.PROMETHEUS_VERSION})`, () => {
  let scratch: string;
  before(() => (scratch = mkdtempSync(join(tmpdir(), 'lookout-promtool-'))));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('promotes service.name, service.namespace and deployment.environment.name from OTLP resources', () => {
    const config = loadYaml('prometheus/prometheus.yml');
    const promoted: string[] = config.otlp?.promote_resource_attributes ?? [];
    for (const attribute of ['service.name', 'service.namespace', 'deployment.environment.name']) assert.ok(promoted.includes(attribute), attribute);
    assert.ok(config.storage?.tsdb?.out_of_order_time_window, 'an out-of-order window (OTLP pushes arrive late)');
  });

  it('passes promtool check config', async () => {
    const config = loadYaml('prometheus/prometheus.yml');
    // The container reads rules from /etc/prometheus/rules; here they are in the checkout.
    config.rule_files = ruleFiles().map((file) => path(file));
    const file = join(scratch, 'prometheus.yml');
    writeFileSync(file, YAML.stringify(config));
    const out = await tool('promtool', ['check', 'config', file]);
    assert.match(out, /SUCCESS/);
  });

  it('passes promtool check rules for every rule file', async () => {
    assert.ok(ruleFiles().length >= 2, 'recording and alerting rules');
    const out = await tool('promtool', ['check', 'rules', ...ruleFiles().map((f) => path(f))]);
    assert.doesNotMatch(out, /FAILED/);
  });

  it('passes every promtool unit test of the rules', async function () {
    // Several files replay days of samples (the SLO windows, the errors' 7-day look-back): tens of seconds on a busy machine.
    this.timeout(300_000);
    const tests = filesIn('prometheus/tests', '.yml', '.yaml');
    assert.ok(tests.length > 0);
    const out = await tool('promtool', ['test', 'rules', ...tests.map((f) => path(f))], path('prometheus/tests'));
    assert.doesNotMatch(out, /FAILED/);
  });

  it('has, for every alert, a unit test where it fires and one where it stays silent', () => {
    const fires = new Set<string>();
    const silent = new Set<string>();
    for (const file of filesIn('prometheus/tests', '.yml', '.yaml')) {
      for (const test of loadYaml(file).tests ?? []) {
        for (const check of test.alert_rule_test ?? []) (check.exp_alerts?.length ? fires : silent).add(check.alertname);
      }
    }
    for (const alert of rules().filter((r) => r.alert)) {
      assert.ok(fires.has(alert.alert!), `no test where ${alert.alert} fires`);
      assert.ok(silent.has(alert.alert!), `no test where ${alert.alert} stays silent`);
    }
  });
});

describe(`Alertmanager configuration (amtool ${versions.ALERTMANAGER_VERSION})`, () => {
  const config = () => path('alertmanager/alertmanager.yml');

  it('passes amtool check-config', async () => {
    const out = await tool('amtool', ['check-config', config()]);
    assert.match(out, /SUCCESS/);
  });

  // `amtool config routes test` prints the receivers an alert with these labels reaches.
  const routes: [string, string[]][] = [
    ['severity=critical service=orders alertname=ServiceHighErrorRatio', ['pagerduty', 'webhook']],
    ['severity=warning service=orders alertname=ServiceElevatedErrorRatio', ['slack', 'webhook']],
  ];
  for (const [labels, receivers] of routes) {
    it(`routes ${labels} to ${receivers.join(' and ')}`, async () => {
      // Standard output only: amtool also warns on stderr that --config.file overrides --alertmanager.url.
      const out = await tool('amtool', ['config', 'routes', 'test', `--config.file=${config()}`, ...labels.split(' ')], undefined, true);
      assert.deepEqual(out.trim().split(',').map((r) => r.trim()).sort(), [...receivers].sort());
    });
  }

  it('groups by alertname and service, and lets a critical alert inhibit the warnings of its service', () => {
    const am = loadYaml('alertmanager/alertmanager.yml');
    assert.deepEqual([...am.route.group_by].sort(), ['alertname', 'service']);
    const inhibit = (am.inhibit_rules ?? []).find((r: any) => r.source_matchers?.some((m: string) => /severity\s*=\s*"?critical/.test(m)));
    assert.ok(inhibit, 'an inhibit rule with a critical source');
    assert.ok(inhibit.target_matchers.some((m: string) => /severity\s*=\s*"?warning/.test(m)));
    assert.ok(inhibit.equal.includes('service'));
  });
});
