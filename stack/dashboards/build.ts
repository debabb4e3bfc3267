// Renders every dashboard module to the JSON Grafana provisions (grafana/dashboards/<uid>.json); stack/mixin/build.ts writes it.
import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import { alerts } from './alerts.js';
import { audit } from './audit.js';
import { collector } from './collector.js';
import { errorsDashboard } from './errors.js';
import { postgres } from './postgres.js';
import { runtime } from './runtime.js';
import { security } from './security.js';
import { serviceOverview } from './service-overview.js';
import { workflowRuns } from './workflow-runs.js';

const builders = [serviceOverview, runtime, audit, alerts, collector, postgres, workflowRuns, security, errorsDashboard];

// The SDK leaves panel ids to Grafana; fixed ids keep panel links (viewPanel=) and diffs stable.
function assignPanelIds(dashboard: Dashboard): void {
  let next = 1;
  const walk = (panels: Array<Panel | RowPanel> | undefined): void => {
    for (const panel of panels ?? []) {
      panel.id = next++;
      if ('panels' in panel) walk(panel.panels);
    }
  };
  walk(dashboard.panels);
}

// Keys sorted at every level so the output depends only on the content, not on builder call order.
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const child = (value as Record<string, unknown>)[key];
    if (child !== undefined && typeof child !== 'function') sorted[key] = sortKeys(child);
  }
  return sorted;
}

// The SDK defaults every link to the dashboard controls menu; without `placement` Grafana shows
// dashboard links above the panels, where the trace and log links of the service overview belong.
// Panel links reuse the same type, where the field means nothing.
function showLinksAbovePanels(dashboard: Dashboard): void {
  const links = [...(dashboard.links ?? []), ...(dashboard.panels ?? []).flatMap((panel) => ('links' in panel ? (panel.links ?? []) : []))];
  for (const link of links) delete link.placement;
}

export function renderDashboards(): Map<string, string> {
  const files = new Map<string, string>();
  for (const builder of builders) {
    const dashboard = builder().build();
    assignPanelIds(dashboard);
    showLinksAbovePanels(dashboard);
    if (!dashboard.uid) throw new Error(`dashboard "${dashboard.title}" has no uid`);
    if (files.has(`${dashboard.uid}.json`)) throw new Error(`two dashboards share the uid ${dashboard.uid}`);
    files.set(`${dashboard.uid}.json`, `${JSON.stringify(sortKeys(dashboard), null, 2)}\n`);
  }
  return files;
}
