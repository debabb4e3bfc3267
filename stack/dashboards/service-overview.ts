// Service overview: RED per service and route, with the way out to the traces and logs behind a spike.
import { DashboardBuilder, MappingType, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode, LogsSortOrder } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as LogsPanel } from '@grafana/grafana-foundation-sdk/logs';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import {
  dashboardUids,
  datasources,
  exploreUrl,
  externalLink,
  labelVariable,
  loki,
  lookoutDashboard,
  prom,
  serviceVariable,
  size,
  thresholds,
  timeseries,
  traceql,
} from './shared.js';
import { panels } from '../mixin/alerts/http.js';
import { panels as servicePanels } from '../mixin/alerts/services.js';
import { http, probes, type Duration } from '../mixin/config.js';
import { recorded } from '../mixin/promql.js';

// `${service:regex}` turns a multi-value selection into one alternation TraceQL and LogQL accept.
export const errorTracesQuery = '{ resource.service.name =~ "${service:regex}" && span.http.response.status_code >= 500 }';
export const serviceLogsQuery = '{service_name=~"${service:regex}"} | json';

const requests = 'http_server_request_duration_seconds_count{service_name=~"$service", http_route=~"$route"}';
const serverErrors =
  'http_server_request_duration_seconds_count{service_name=~"$service", http_route=~"$route", http_response_status_code=~"5.."}';
const buckets = 'http_server_request_duration_seconds_bucket{service_name=~"$service", http_route=~"$route"}';

const quantile = (q: number, by: string): string =>
  `histogram_quantile(${q}, sum by (le, ${by}) (rate(${buckets}[$__rate_interval])))`;

const errorTracesUrl = exploreUrl(datasources.tempo, { queryType: 'traceql', query: errorTracesQuery, limit: 20 });
const serviceLogsUrl = exploreUrl(datasources.loki, { expr: serviceLogsQuery });

const errorTracesLink = (): ReturnType<typeof externalLink> =>
  externalLink('5xx traces in Tempo', errorTracesUrl, 'Explore the server spans that answered 5xx for the selected services');
const serviceLogsLink = (): ReturnType<typeof externalLink> =>
  externalLink('Logs in Loki', serviceLogsUrl, 'Explore the JSON logs of the selected services');

// Lines where the alerts fire: warning on the 15m ratio, critical on the 5m ratio (mixin/config.ts).
const errorRatioThresholds = (): ReturnType<typeof thresholds> =>
  thresholds([
    [null, 'green'],
    [http.errorRatio.warning.above, 'orange'],
    [http.errorRatio.critical.above, 'red'],
  ]);

const dashed = () => new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed);

/** A panel of one recorded latency quantile, with the alert's threshold drawn dashed. */
function latencyAlertPanel(title: string, alert: { quantile: number; aboveSeconds: number; window: string; for: string }, severity: 'orange' | 'red') {
  const record = recorded.latency(alert.quantile, alert.window as Duration);
  return timeseries(
    title,
    `The ${Math.round(alert.quantile * 100)}th percentile of server request duration over ${alert.window} (${record}), the series its alert watches: above ${alert.aboveSeconds}s for ${alert.for} fires.`,
    's',
    size.quarter,
  )
    .withTarget(prom('A', `${record}{service=~"$service"}`, '{{service}}'))
    .thresholds(
      thresholds([
        [null, 'green'],
        [alert.aboveSeconds, severity],
      ]),
    )
    .thresholdsStyle(dashed())
    .links([errorTracesLink()]);
}

const probeJobs = Object.values(probes.jobs).join('|');

export function serviceOverview(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.serviceOverview,
    'Service overview',
    'Rate, errors and duration of HTTP server requests per service and route, with links to the traces and logs behind them.',
  )
    .link(errorTracesLink())
    .link(serviceLogsLink())
    .withVariable(serviceVariable())
    .withVariable(
      labelVariable('route', 'http_route', 'http_server_request_duration_seconds_count{service_name=~"$service"}', '.*'),
    )
    .withRow(new RowBuilder('Per service'))
    .withPanel(
      timeseries(
        'Request rate',
        'HTTP server requests per second, from the recording rule service:http_server_requests:rate5m (all routes).',
        'reqps',
        size.third,
      ).withTarget(prom('A', 'sum by (service) (service:http_server_requests:rate5m{service=~"$service"})', '{{service}}')),
    )
    .withPanel(
      timeseries(
        panels.errorRatio,
        `Share of requests answered 5xx, the series the alerts watch: over ${http.errorRatio.critical.window} (critical above ${http.errorRatio.critical.above * 100}%) and over ${http.errorRatio.warning.window} (warning above ${http.errorRatio.warning.above * 100}%).`,
        'percentunit',
        size.third,
      )
        .withTarget(prom('A', `${recorded.errorRatio(http.errorRatio.critical.window)}{service=~"$service"}`, `{{service}} ${http.errorRatio.critical.window}`))
        .withTarget(prom('B', `${recorded.errorRatio(http.errorRatio.warning.window)}{service=~"$service"}`, `{{service}} ${http.errorRatio.warning.window}`))
        .thresholds(errorRatioThresholds())
        .thresholdsStyle(dashed())
        .min(0)
        .links([errorTracesLink(), serviceLogsLink()]),
    )
    .withPanel(
      timeseries(
        'Latency p50 / p95 / p99',
        'Server request duration quantiles from the histogram, for the selected routes. Exemplar dots open the trace in Tempo.',
        's',
        size.third,
      )
        .withTarget(prom('A', quantile(0.5, 'service_name'), '{{service_name}} p50').exemplar(true))
        .withTarget(prom('B', quantile(0.95, 'service_name'), '{{service_name}} p95').exemplar(true))
        .withTarget(prom('C', quantile(0.99, 'service_name'), '{{service_name}} p99').exemplar(true))
        .links([errorTracesLink()]),
    )
    .withPanel(latencyAlertPanel(panels.latencyCritical, http.latency.critical, 'red'))
    .withPanel(latencyAlertPanel(panels.latencyWarning, http.latency.warning, 'orange'))
    .withPanel(
      new StateTimelinePanel()
        .title(servicePanels.probeStatus)
        .description(
          'Result of the blackbox probes of each service: GET /health every 30s, /health/db every 60s, /health/dependencies every 120s (probe_success). Red for 2m fires the *ServiceDown, ServiceDatabaseCheckFailing and ServiceDependencyCheckFailing alerts.',
        )
        .datasource(datasources.prometheus)
        .unit('bool')
        .span(size.quarter)
        .height(size.height)
        .mappings([
          { type: MappingType.ValueToText, options: { '0': { text: 'failing', color: 'red', index: 0 }, '1': { text: 'ok', color: 'green', index: 1 } } },
        ])
        .withTarget(prom('A', `max by (service, job) (probe_success{job=~"${probeJobs}", service=~"$service"})`, '{{service}} {{job}}')),
    )
    .withPanel(
      timeseries('Probe latency', 'Time each health probe took, end to end (probe_duration_seconds): the health endpoint\'s own latency plus its checks.', 's', size.quarter).withTarget(
        prom('A', `max by (service, job) (probe_duration_seconds{job=~"${probeJobs}", service=~"$service"})`, '{{service}} {{job}}'),
      ),
    )
    .withRow(new RowBuilder('Per route'))
    .withPanel(
      timeseries(panels.requestsByRoute, 'HTTP server requests per second per service and route.', 'reqps', size.third).withTarget(
        prom('A', `sum by (service_name, http_route) (rate(${requests}[$__rate_interval]))`, '{{service_name}} {{http_route}}'),
      ),
    )
    .withPanel(
      timeseries('5xx error ratio by route', 'Share of requests answered 5xx per service and route.', 'percentunit', size.third)
        .withTarget(
          prom(
            'A',
            `sum by (service_name, http_route) (rate(${serverErrors}[$__rate_interval]))` +
              ` / sum by (service_name, http_route) (rate(${requests}[$__rate_interval]))`,
            '{{service_name}} {{http_route}}',
          ),
        )
        .min(0)
        .links([errorTracesLink()]),
    )
    .withPanel(
      timeseries(
        'Latency p95 by route',
        'p95 server request duration per service and route. Exemplar dots open the trace in Tempo.',
        's',
        size.third,
      ).withTarget(prom('A', quantile(0.95, 'service_name, http_route'), '{{service_name}} {{http_route}}').exemplar(true)),
    )
    .withRow(new RowBuilder('Traces and logs'))
    .withPanel(
      new TablePanel()
        .title('Recent 5xx traces')
        .description('Traces with a server span that answered 5xx, for the selected services. Click a trace id to open it.')
        .datasource(datasources.tempo)
        .unit('none')
        .span(size.half)
        .height(size.height + 2)
        .withTarget(traceql('A', errorTracesQuery, 20)),
    )
    .withPanel(
      new LogsPanel()
        .title('Service logs')
        .description('JSON logs of the selected services from Loki; the trace_id field links to Tempo.')
        .datasource(datasources.loki)
        .unit('none')
        .span(size.half)
        .height(size.height + 2)
        .showTime(true)
        .enableLogDetails(true)
        .wrapLogMessage(true)
        .sortOrder(LogsSortOrder.Descending)
        .withTarget(loki('A', serviceLogsQuery).maxLines(200)),
    );
}
