// Errors: exceptions grouped into issues by the agent's fingerprint (lookout.errors), with count, first and last
// seen, releases and users affected, and one click to a sample trace and the issue's logs. The alerts of
// stack/mixin/alerts/errors.ts link here with the service and the fingerprint set.
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { LogsSortOrder } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as LogsPanel } from '@grafana/grafana-foundation-sdk/logs';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { panels } from '../mixin/alerts/errors.js';
import { errors } from '../mixin/config.js';
import { dashboardUids, datasources, labelVariable, loki, lookoutDashboard, prom, size, timeseries, traceql } from './shared.js';

const selected = `${errors.metric}{service_name=~"$service", exception_fingerprint=~"$fingerprint"}`;
const ISSUE = 'service_name, exception_type, exception_fingerprint';

// Log records and span events carry exception.fingerprint and enduser.id; Loki keeps OTLP attributes as
// structured metadata with dots as underscores.
export const issueLogsQuery = '{service_name=~"${service:regex}"} | exception_fingerprint=~"${fingerprint:regex}"';
const usersQuery = `count(count by (enduser_id) (count_over_time({service_name=~"\${service:regex}"} | exception_fingerprint=~"\${fingerprint:regex}" | enduser_id != "" [$__range])))`;
export const issueTracesQuery = '{ resource.service.name =~ "${service:regex}" && event.exception.fingerprint =~ "${fingerprint:regex}" }';

/** An instant query for a table, one row per issue. */
const column = (refId: string, expr: string) => prom(refId, expr, '').instant().format(PromQueryFormat.Table);

// Same-dashboard link that narrows every panel to one issue.
const issueLink = {
  title: 'Only this issue',
  url: '/d/lookout-errors?${__url_time_range}&var-service=${__data.fields.service_name}&var-fingerprint=${__value.raw}',
};

export function errorsDashboard(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.errors,
    'Errors',
    'Exceptions grouped into issues by fingerprint (exception type and first in-app stack frame): how often, since when, in which releases, for how many users, with a sample trace and the logs one click away.',
  )
    .withVariable(labelVariable('service', 'service_name', errors.metric))
    .withVariable(labelVariable('fingerprint', 'exception_fingerprint', `${errors.metric}{service_name=~"$service"}`))
    .withRow(new RowBuilder('Issues'))
    .withPanel(
      new TablePanel()
        .title(panels.issues)
        .description(
          'One row per issue in the time range: events (increase of lookout_errors_total), first and last seen (when its counter first existed and last grew), and how many releases raised it. NewErrorFingerprint fires for a fingerprint not seen in the 7 days before. Click a fingerprint to narrow the dashboard to it.',
        )
        .datasource(datasources.prometheus)
        .unit('none')
        .span(size.full)
        .height(size.height + 2)
        .filterable(true)
        .withTarget(column('A', `sum by (${ISSUE}) (increase(${selected}[$__range]))`))
        .withTarget(column('B', `min by (${ISSUE}) (min_over_time(timestamp(${selected})[$__range:1m])) * 1000`))
        .withTarget(column('C', `max by (${ISSUE}) (max_over_time(timestamp(changes(${selected}[2m]) > 0)[$__range:1m])) * 1000`))
        .withTarget(column('D', `count by (${ISSUE}) (count by (${ISSUE}, service_version) (${selected}))`))
        .withTransformation({ id: 'merge', options: {} })
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            renameByName: { 'Value #A': 'events', 'Value #B': 'first seen', 'Value #C': 'last seen', 'Value #D': 'releases' },
            indexByName: { service_name: 0, exception_type: 1, exception_fingerprint: 2, 'Value #A': 3, 'Value #B': 4, 'Value #C': 5, 'Value #D': 6 },
          },
        })
        .overrideByName('first seen', [{ id: 'unit', value: 'dateTimeAsIso' }])
        .overrideByName('last seen', [{ id: 'unit', value: 'dateTimeAsIso' }])
        .overrideByName('exception_fingerprint', [{ id: 'links', value: [issueLink] }]),
    )
    .withPanel(
      new TablePanel()
        .title(panels.releases)
        .description(
          'Events per issue and release (service_version) in the time range: which release introduced an issue, and whether a fix held. ErrorRegressedAfterRelease fires when a known issue that had gone quiet for a day appears in a release it had not appeared in.',
        )
        .datasource(datasources.prometheus)
        .unit('none')
        .span(size.half)
        .height(size.height)
        .withTarget(column('A', `sum by (${ISSUE}, service_version) (increase(${selected}[$__range])) or sum by (${ISSUE}, service_version) (${selected}) * 0`))
        .withTransformation({ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'events' } } }),
    )
    .withPanel(
      timeseries('Errors per second by issue', 'Rate of each issue\'s exceptions (lookout_errors_total): a step up after a deploy points at the release.', 'cps', size.half).withTarget(
        prom('A', `sum by (service_name, exception_type, exception_fingerprint) (rate(${selected}[$__rate_interval]))`, '{{service_name}} {{exception_type}} {{exception_fingerprint}}'),
      ),
    )
    .withRow(new RowBuilder('Who, and where to look'))
    .withPanel(
      new StatPanel()
        .title('Users affected')
        .description('Distinct enduser.id (set with setUser from @lookout/agent) on the log records of the selected issues in the time range, from Loki. Requests without a user are not counted.')
        .datasource(datasources.loki)
        .unit('short')
        .span(size.quarter)
        .height(size.height)
        .noValue('0')
        .withTarget(loki('A', usersQuery).queryType('instant')),
    )
    .withPanel(
      new TablePanel()
        .title('Sample traces')
        .description('Traces with an exception event of the selected issues (TraceQL on event.exception.fingerprint). Click a trace id to open it; its logs are one click further.')
        .datasource(datasources.tempo)
        .unit('none')
        .span(size.quarter * 3)
        .height(size.height)
        .withTarget(traceql('A', issueTracesQuery, 20)),
    )
    .withPanel(
      new LogsPanel()
        .title('Logs of the issue')
        .description('Log records that carry the selected fingerprints, newest first; the trace_id field links to the trace.')
        .datasource(datasources.loki)
        .unit('none')
        .span(size.full)
        .height(size.height + 2)
        .showTime(true)
        .enableLogDetails(true)
        .wrapLogMessage(true)
        .sortOrder(LogsSortOrder.Descending)
        .withTarget(loki('A', issueLogsQuery).maxLines(200)),
    );
}
