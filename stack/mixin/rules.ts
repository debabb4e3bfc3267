// The shape of a generated rule, and its translation to Prometheus's rule-file format. Every alert gets the
// contract the Alertmanager templates and docs rely on: labels severity and service; annotations summary,
// description, value, runbook_url (docs/runbooks/<alert>.md) and dashboard_url (a dashboard that has the
// alert's variables and a panel drawing the alert's series).
import { links, type DashboardUid, type Duration, type Severity } from './config.js';

export interface RecordingRule {
  record: string;
  expr: string;
  /** Written as a comment above the rule. */
  why?: string;
}

export interface DashboardLink {
  uid: DashboardUid;
  /** Title of the panel that draws the alert's series, with the same quantile and window. */
  panel: string;
  /** Dashboard variables set by the link; default: service from the alert's service label. */
  vars?: Record<string, string>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: Duration;
  severity: Severity;
  summary: string;
  description: string;
  value: string;
  dashboard: DashboardLink;
  why?: string;
}

export interface RuleGroup<R extends RecordingRule | AlertRule> {
  name: string;
  interval?: Duration;
  why?: string;
  rules: R[];
}

const externalLabel = (name: string) => `{{ $externalLabels.${name} }}`;

export const runbookUrl = (alert: string): string => `${externalLabel(links.runbookLabel)}/${alert}.md`;

export function dashboardUrl(link: DashboardLink): string {
  const vars = link.vars ?? { service: '{{ $labels.service }}' };
  const query = Object.entries(vars)
    .map(([name, value]) => `var-${name}=${value}`)
    .join('&');
  return `${externalLabel(links.grafanaLabel)}/d/${link.uid}${query ? `?${query}` : ''}`;
}

export function prometheusRule(rule: RecordingRule | AlertRule): Record<string, unknown> {
  if ('record' in rule) return { record: rule.record, expr: rule.expr };
  return {
    alert: rule.alert,
    expr: rule.expr,
    for: rule.for,
    labels: { severity: rule.severity },
    annotations: {
      summary: rule.summary,
      description: rule.description,
      value: rule.value,
      runbook_url: runbookUrl(rule.alert),
      dashboard_url: dashboardUrl(rule.dashboard),
    },
  };
}
