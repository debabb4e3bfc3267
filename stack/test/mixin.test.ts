// The stack's rules and dashboards come from one source (stack/mixin) and agree with each other: the files on
// disk are what the generator writes; every alert's runbook link names a runbook in docs/runbooks/ once the
// default base is filled in; every dashboard link names a generated dashboard that has the variables it sets
// and a panel drawing the series the alert watches (same recording rule, so the same quantile and window).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'mocha';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { links } from '../mixin/config.js';
import { allAlerts } from '../mixin/rule-files.js';
import { dashboardUrl, runbookUrl } from '../mixin/rules.js';
import { dashboards, panels, path, rules, withoutGrafanaVariables } from './fixtures/repo.js';

/** What a PromQL expression reads: metric names, and `{__name__=~"…"}` patterns where it names none. */
function signals(expr: string): string[] {
  const found: string[] = [];
  promqlParser.parse(expr).iterate({
    enter: (node) => {
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier) found.push(expr.slice(identifier.from, identifier.to));
      else found.push(/__name__\s*=~\s*"([^"]+)"/.exec(expr.slice(node.from, node.to))?.[1] ?? expr.slice(node.from, node.to));
    },
  });
  return [...new Set(found)];
}

const externalLabel = (name: string) => `{{ $externalLabels.${name} }}`;

describe('stack/mixin', () => {
  it('generated prometheus/rules/*.yml and grafana/dashboards/*.json: the files on disk are what it writes', async () => {
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', 'mixin/build.ts', '--check'], { cwd: path('stack') }, (err, stdout, stderr) =>
        err ? reject(new Error(`${stdout}${stderr}`)) : resolve(),
      ),
    );
  });

  it('gives every alert in the rule files a severity, a service-level contract and every annotation', () => {
    const alerts = rules().filter((r) => r.alert);
    assert.equal(alerts.length, allAlerts().length);
    for (const rule of alerts) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${rule.alert}: severity`);
      for (const key of ['summary', 'description', 'value', 'runbook_url', 'dashboard_url']) assert.ok(rule.annotations?.[key], `${rule.alert}: ${key}`);
    }
  });

  it('links every alert to a runbook file in docs/runbooks/ (with the default base the compose stack serves)', () => {
    const base = externalLabel(links.runbookLabel);
    const missing: string[] = [];
    for (const rule of rules().filter((r) => r.alert)) {
      const url = rule.annotations!.runbook_url!;
      assert.ok(url.startsWith(`${base}/`), `${rule.alert}: runbook_url ${url} does not start with ${base}/`);
      assert.equal(url, runbookUrl(rule.alert!));
      const file = `${links.runbookDir}/${url.slice(base.length + 1)}`;
      if (!existsSync(path(file))) missing.push(`${rule.alert}: ${file}`);
    }
    assert.deepEqual(missing, []);
  });

  it('gives every runbook a link to the on-call book\'s procedure for it (docs/operations/)', () => {
    const missing = readdirSync(path(links.runbookDir))
      .filter((name) => name.endsWith('.md'))
      .filter((name) => {
        const text = readFileSync(path(`${links.runbookDir}/${name}`), 'utf8');
        const target = /\]\(\.\.\/operations\/([a-z-]+\.md)(#[a-z0-9-]+)?\)/.exec(text)?.[1];
        return !target || !existsSync(path(`docs/operations/${target}`));
      });
    assert.deepEqual(missing, []);
  });

  it('links every alert to a dashboard that has the variables the link sets and a panel drawing the alert\'s series', () => {
    const byUid = new Map(dashboards().map(({ json }) => [json.uid as string, json]));
    const problems: string[] = [];
    for (const alert of allAlerts()) {
      const url = dashboardUrl(alert.dashboard);
      assert.ok(url.startsWith(`${externalLabel(links.grafanaLabel)}/d/${alert.dashboard.uid}`), url);
      const dashboard = byUid.get(alert.dashboard.uid);
      if (!dashboard) {
        problems.push(`${alert.alert}: no generated dashboard ${alert.dashboard.uid}`);
        continue;
      }
      const variables = new Set((dashboard.templating?.list ?? []).map((v: { name: string }) => v.name));
      for (const name of Object.keys(alert.dashboard.vars ?? { service: '' })) {
        if (!variables.has(name)) problems.push(`${alert.alert}: ${alert.dashboard.uid} has no variable ${name}`);
      }
      const panel = panels(dashboard).find((p) => p.type !== 'row' && p.title === alert.dashboard.panel);
      if (!panel) {
        problems.push(`${alert.alert}: ${alert.dashboard.uid} has no panel "${alert.dashboard.panel}"`);
        continue;
      }
      const drawn = new Set((panel.targets ?? []).flatMap((t: { expr?: string }) => (t.expr ? signals(withoutGrafanaVariables(t.expr)) : [])));
      for (const signal of signals(alert.expr)) {
        if (!drawn.has(signal)) problems.push(`${alert.alert}: panel "${panel.title}" on ${alert.dashboard.uid} does not draw ${signal}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
