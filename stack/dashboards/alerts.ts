// Alerts overview: what is firing now, and how fast each service is burning its 99.9% availability budget.
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

// Availability SLO 99.9%: a burn rate of 1 spends exactly the budget over the SLO period.
const ERROR_BUDGET = 0.001;

const burnRate = (refId: string, window: string) =>
  prom(refId, `service:http_server_errors:ratio_rate${window}{service=~"$service"} / ${ERROR_BUDGET}`, `{{service}} ${window}`);

/** The burn rate over each window (refIds A, B, …), with the rule's two thresholds drawn dashed. */
const burnRatePanel = (title: string, description: string, windows: string[], [warn, page]: [number, number]) =>
  windows
    .reduce((panel, window, i) => panel.withTarget(burnRate(String.fromCharCode(65 + i), window)), timeseries(title, description, 'suffix:x'))
    .thresholds(
      thresholds([
        [null, 'green'],
        [warn, 'orange'],
        [page, 'red'],
      ]),
    )
    .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
    .min(0);

const severityStat = (severity: 'critical' | 'warning', color: string): StatPanel =>
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
    .withPanel(
      timeseries('Firing alerts by severity', 'Number of firing alerts over time, by severity.', 'short', size.half)
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
    .withRow(new RowBuilder('Error budget burn rate (SLO 99.9%)'))
    .withPanel(
      burnRatePanel(
        'Burn rate, fast windows',
        'Error ratio divided by the 0.1% budget. ServiceErrorBudgetBurnFast pages at 14.4x over 1h and 5m, or 6x over 6h and 30m.',
        ['5m', '30m', '1h', '6h'],
        [6, 14.4],
      ),
    )
    .withPanel(
      burnRatePanel(
        'Burn rate, slow windows',
        'Error ratio divided by the 0.1% budget. ServiceErrorBudgetBurnSlow opens a ticket at 3x over 1d and 2h, or 1x over 3d and 6h.',
        ['2h', '6h', '1d', '3d'],
        [1, 3],
      ),
    )
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
