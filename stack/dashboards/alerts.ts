// Alerts overview: what is firing now, the scrape targets, and how fast each service burns its availability budget.
import { DashboardBuilder, PanelBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BigValueColorMode,
  BigValueGraphMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  ReduceDataOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { dashboardUids, datasources, labelVariable, lookoutDashboard, prom, size, thresholds, timeseries } from './shared.js';
import { panels as httpPanels } from '../mixin/alerts/http.js';
import { panels as platformPanels } from '../mixin/alerts/platform.js';
import { errorBudget, seconds, slo, type Duration, type Severity } from '../mixin/config.js';
import { recorded } from '../mixin/promql.js';

// A burn rate of 1 spends exactly the error budget over the SLO period.
const burnRate = (refId: string, window: Duration) =>
  prom(refId, `${recorded.errorRatio(window)}{service=~"$service"} / ${errorBudget}`, `{{service}} ${window}`);

type BurnPolicy = (typeof slo)['fast'] | (typeof slo)['slow'];

/** The burn rate over each of the policy's windows (refIds A, B, …), with its thresholds drawn dashed. */
const burnRatePanel = (title: string, alert: string, policy: BurnPolicy) => {
  const windows = [...new Set(policy.windows.flatMap((w) => [w.short, w.long] as Duration[]))].sort((a, b) => seconds(a) - seconds(b));
  const rates = [...new Set(policy.windows.map((w) => w.burn))].sort((a, b) => a - b);
  const description = `Error ratio divided by the ${errorBudget * 100}% budget (SLO ${slo.objective * 100}%). ${alert} fires (${policy.severity}) at ${policy.windows.map((w) => `${w.burn}x over ${w.long} and ${w.short}`).join(', or ')}.`;
  return windows
    .reduce((panel, window, i) => panel.withTarget(burnRate(String.fromCharCode(65 + i), window)), timeseries(title, description, 'suffix:x'))
    .thresholds(thresholds([[null, 'green'], ...rates.map((rate, i): [number, string] => [rate, i === rates.length - 1 ? 'red' : 'orange'])]))
    .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
    .min(0);
};

const severityStat = (severity: Severity, color: string): StatPanel =>
  new StatPanel()
    .title(`Firing ${severity}`)
    .description(`Alerts with severity ${severity} firing now, from Prometheus's ALERTS series.`)
    .datasource(datasources.prometheus)
    .unit('short')
    .span(size.quarter)
    .height(size.height - 2)
    .graphMode(BigValueGraphMode.Area)
    .colorMode(BigValueColorMode.Background)
    .noValue('0')
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .thresholds(
      thresholds([
        [null, 'green'],
        [1, color],
      ]),
    )
    .withTarget(prom('A', `sum(ALERTS{alertstate="firing", severity="${severity}"})`, severity));

export function alerts(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.alerts,
    'Alerts overview',
    'Alerts firing now by severity and labels, the alert rules, and the error-budget burn rates the SLO alerts watch.',
  )
    .withVariable(labelVariable('service', 'service', 'service:http_server_requests:rate5m'))
    .withRow(new RowBuilder('Firing now'))
    .withPanel(severityStat('critical', 'red'))
    .withPanel(severityStat('warning', 'orange'))
    .withPanel(severityStat('info', 'blue'))
    .withPanel(
      timeseries('Firing alerts by severity', 'Number of firing alerts over time, by severity.', 'short', size.quarter)
        .withTarget(prom('A', 'sum by (severity) (ALERTS{alertstate="firing"})', '{{severity}}'))
        .min(0),
    )
    .withPanel(
      new TablePanel()
        .title('Firing alerts')
        .description('Every firing alert with its labels (one row per alert instance).')
        .datasource(datasources.prometheus)
        .unit('none')
        .span(size.full)
        .height(size.height)
        .filterable(true)
        .withTarget(prom('A', 'ALERTS{alertstate="firing"}', '').instant().format(PromQueryFormat.Table))
        .withTransformation({
          id: 'organize',
          options: { excludeByName: { Time: true, Value: true, __name__: true, alertstate: true } },
        }),
    )
    .withPanel(
      timeseries(
        platformPanels.targets,
        'Whether Prometheus scraped each target (up, by job and instance): the stack\'s components, the exporters and the probes. TargetDown fires after 2m at 0.',
        'bool',
        size.full,
      )
        .withTarget(prom('A', 'min by (job, instance) (up)', '{{job}} {{instance}}'))
        .min(0)
        .max(1),
    )
    .withRow(new RowBuilder(`Error budget burn rate (SLO ${slo.objective * 100}%)`))
    .withPanel(burnRatePanel(httpPanels.burnFast, 'ServiceErrorBudgetBurnFast', slo.fast))
    .withPanel(burnRatePanel(httpPanels.burnSlow, 'ServiceErrorBudgetBurnSlow', slo.slow))
    .withRow(new RowBuilder('Rules'))
    .withPanel(
      // The SDK has no typed builder for the alert list panel; this is its plugin id and options.
      new PanelBuilder()
        .type('alertlist')
        .title('Alert rules')
        .description('Prometheus alert rules that are firing or pending, as Grafana reads them from the Prometheus ruler API.')
        .unit('none')
        .span(size.full)
        .height(size.height)
        .options({
          viewMode: 'list',
          groupMode: 'default',
          groupBy: [],
          maxItems: 50,
          sortOrder: 1,
          dashboardAlerts: false,
          alertName: '',
          alertInstanceLabelFilter: '',
          stateFilter: { firing: true, pending: true, noData: false, normal: false, error: true },
        }),
    );
}
