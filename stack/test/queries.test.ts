// Every PromQL, LogQL and TraceQL expression in the rules, dashboards and datasource cross-links parses
// with the grammars Grafana itself uses (lezer), every metric they name is in the catalogue
// (docs/metrics.md), and every datasource a panel names is provisioned.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { LRParser } from '@lezer/lr';
import { dashboards, datasources, metricsCatalogue, panels, queries, rules, withoutGrafanaVariables, type Query } from './fixtures/repo.js';

const PARSERS: Record<string, LRParser> = { promql: promqlParser, logql: logqlParser, traceql: traceqlParser };

/** The text around each error node the grammar left in the tree (lezer marks syntax errors with ⚠ nodes). */
function syntaxErrors(parser: LRParser, text: string): string[] {
  const errors: string[] = [];
  parser.parse(text).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: …${text.slice(Math.max(0, node.from - 20), node.from + 20)}…`);
    },
  });
  return errors;
}

/** Metric names a PromQL expression selects. */
function metricNames(text: string): string[] {
  const names: string[] = [];
  promqlParser.parse(text).iterate({
    enter: (node) => {
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) names.push(text.slice(identifier.from, identifier.to));
      }
    },
  });
  return names;
}

// Prometheus's own series, not exported by anything we configure.
const BUILT_IN = new Set(['up', 'ALERTS', 'ALERTS_FOR_STATE', 'scrape_duration_seconds', 'scrape_samples_scraped']);

const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

describe('queries in rules, dashboards and datasources', () => {
  const all = queries();

  it('finds queries of each language to check', () => {
    for (const language of ['promql', 'logql', 'traceql']) assert.ok(all.some((q) => q.language === language), `no ${language} query found`);
  });

  for (const language of ['promql', 'logql', 'traceql'] as const) {
    it(`parses every ${language} expression without error nodes`, () => {
      const failures = all
        .filter((q) => q.language === language)
        .map((q): [Query, string[]] => [q, syntaxErrors(PARSERS[language]!, withoutGrafanaVariables(q.text))])
        .filter(([, errors]) => errors.length > 0)
        .map(([q, errors]) => `${q.where}: ${q.text}\n    ${errors.join('\n    ')}`);
      assert.deepEqual(failures, []);
    });
  }

  it('names only metrics that docs/metrics.md catalogues, or recording rules, or Prometheus built-ins', () => {
    const { exact, patterns } = metricsCatalogue();
    const recorded = new Set(rules().flatMap((r) => (r.record ? [r.record] : [])));
    const unknown = all
      .filter((q) => q.language === 'promql')
      .flatMap((q) => metricNames(withoutGrafanaVariables(q.text)).map((name) => ({ name, where: q.where })))
      .filter(({ name }) => !BUILT_IN.has(name) && !recorded.has(name))
      .filter(({ name }) => !exact.has(name) && !exact.has(family(name)) && ![...exact].some((e) => family(e) === family(name)))
      .filter(({ name }) => !patterns.some((pattern) => pattern.test(name)))
      .map(({ name, where }) => `${name} (${where})`);
    assert.deepEqual([...new Set(unknown)], []);
  });

  it('uses only recording rules that are defined', () => {
    const recorded = new Set(rules().flatMap((r) => (r.record ? [r.record] : [])));
    const missing = all
      .filter((q) => q.language === 'promql')
      .flatMap((q) => metricNames(withoutGrafanaVariables(q.text)).filter((n) => n.includes(':') && !recorded.has(n)).map((n) => `${n} (${q.where})`));
    assert.deepEqual(missing, []);
  });
});

describe('dashboards', () => {
  it('exist for every dashboard an alert links to, with unique panel ids', () => {
    const uids = new Set(dashboards().map((d) => d.json.uid));
    for (const rule of rules().filter((r) => r.alert)) {
      const link = rule.annotations?.dashboard_url ?? '';
      const uid = /\/d\/([^/?]+)/.exec(link)?.[1];
      assert.ok(uid && uids.has(uid), `${rule.alert}: dashboard_url ${link} names no provisioned dashboard`);
    }
    for (const { file, json } of dashboards()) {
      const ids = panels(json).map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${file}: duplicate panel ids`);
    }
  });

  it('name only provisioned datasources, by UID', () => {
    const provisioned = datasources();
    const missing: string[] = [];
    for (const { file, json } of dashboards()) {
      const refs = [...panels(json).flatMap((p) => [p.datasource, ...(p.targets ?? []).map((t: any) => t.datasource)]), ...(json.templating?.list ?? []).map((v: any) => v.datasource)];
      for (const ref of refs) {
        if (!ref || typeof ref !== 'object' || !ref.uid || ref.uid.startsWith('-- ')) continue;
        if (!provisioned.has(ref.uid)) missing.push(`${file}: ${ref.uid}`);
      }
    }
    assert.deepEqual([...new Set(missing)], []);
  });
});
