// Audit: the audit API's write path, stream and retention, and the latest events straight from PostgreSQL.
import { DashboardBuilder, RowBuilder, TextBoxVariableBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { BigValueGraphMode, ReduceDataOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { SqlQueryBuilder, dashboardUids, datasources, exploreUrl, labelVariable, lookoutDashboard, prom, size, thresholds, timeseries } from './shared.js';
import { panels } from '../mixin/alerts/services.js';
import { audit as auditConfig } from '../mixin/config.js';
import { recorded } from '../mixin/promql.js';

const lag = auditConfig.streamLag;

// `$trace_id` narrows the table to one trace (Loki's "Audit events" link sets it). Grafana doubles single
// quotes in a single-value variable for SQL datasources, and the datasource's role can only read.
export const latestEventsSql =
  'select occurred_at, tenant_id, action, status, actor_id, object_type, object_id, request_id, trace_id' +
  " from activity_events where $__timeFilter(occurred_at) and ('$trace_id' = '' or trace_id = '$trace_id')" +
  ' order by occurred_at desc limit 100';

/** The dashboard variable a link sets (`var-trace_id=…`) to show one trace's audit events. */
export const TRACE_ID_VARIABLE = 'trace_id';

// Clicking a trace id opens that trace in Tempo; `${__value.raw}` is the cell's value.
const traceLink = {
  title: 'Open trace ${__value.raw} in Tempo',
  url: exploreUrl(datasources.tempo, { queryType: 'traceql', query: '${__value.raw}' }),
  targetBlank: false,
};

const latency = (q: number, metric: string): string =>
  `histogram_quantile(${q}, sum by (le) (rate(${metric}_bucket{service_name=~"$service"}[$__rate_interval])))`;

export function audit(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.audit,
    'Audit',
    'The audit API: events written by action and status, rejected writes, write latency, the live stream, retention, and the latest stored events.',
  )
    .withVariable(labelVariable('service', 'service_name', 'lookout_audit_events_written_total'))
    .withVariable(
      new TextBoxVariableBuilder(TRACE_ID_VARIABLE)
        .label('Trace id')
        .description('Show only the audit events of this trace (32 hex digits); empty for all.')
        .defaultValue(''),
    )
    .withRow(new RowBuilder('Writes'))
    .withPanel(
      timeseries('Events written by action and status', 'Audit events stored per second, by action and status.', 'cps', size.third).withTarget(
        prom('A', 'sum by (action, status) (rate(lookout_audit_events_written_total{service_name=~"$service"}[$__rate_interval]))', '{{action}} {{status}}'),
      ),
    )
    .withPanel(
      timeseries(
        panels.writeFailures,
        'Writes the audit API rejected or could not store, per second. database_unavailable and error page; the others are client mistakes or limits.',
        'cps',
        size.third,
      ).withTarget(prom('A', 'sum by (reason) (rate(lookout_audit_write_failures_total{service_name=~"$service"}[$__rate_interval]))', '{{reason}}')),
    )
    .withPanel(
      timeseries('Auth failures by reason', 'Requests to the audit API refused for authentication or authorization, per second.', 'cps', size.third).withTarget(
        prom('A', 'sum by (reason) (rate(lookout_audit_auth_failures_total{service_name=~"$service"}[$__rate_interval]))', '{{reason}}'),
      ),
    )
    .withPanel(
      timeseries('Write latency p50 / p99', 'Time to validate and store one write request, from the lookout_audit_write_duration_seconds histogram.', 's', size.half)
        .withTarget(prom('A', latency(0.5, 'lookout_audit_write_duration_seconds'), 'p50').exemplar(true))
        .withTarget(prom('B', latency(0.99, 'lookout_audit_write_duration_seconds'), 'p99').exemplar(true)),
    )
    .withPanel(
      timeseries('Batch size p50 / p99', 'Events per write request.', 'short', size.half)
        .withTarget(prom('A', latency(0.5, 'lookout_audit_batch_size'), 'p50'))
        .withTarget(prom('B', latency(0.99, 'lookout_audit_batch_size'), 'p99')),
    )
    .withRow(new RowBuilder('Stream and retention'))
    .withPanel(
      timeseries('Stream subscribers', 'Clients connected to the live audit event stream.', 'short', size.quarter).withTarget(
        prom('A', 'sum(lookout_audit_stream_subscribers{service_name=~"$service"})', 'subscribers'),
      ),
    )
    .withPanel(
      timeseries(
        panels.streamLag,
        `p${Math.round(lag.quantile * 100)} over ${lag.window} of the time from an event being stored to it reaching a stream subscriber (${recorded.streamLag(lag.quantile, lag.window)}); AuditStreamLagHigh fires above ${lag.aboveSeconds}s for ${lag.for}.`,
        's',
        size.quarter,
      )
        .withTarget(prom('A', `${recorded.streamLag(lag.quantile, lag.window)}{service=~"$service"}`, '{{service}}'))
        .thresholds(
          thresholds([
            [null, 'green'],
            [lag.aboveSeconds, 'orange'],
          ]),
        ),
    )
    .withPanel(
      timeseries('Stream disconnects by reason', 'Stream subscribers dropped per second, by reason.', 'cps', size.quarter).withTarget(
        prom('A', 'sum by (reason) (rate(lookout_audit_stream_disconnects_total{service_name=~"$service"}[$__rate_interval]))', '{{reason}}'),
      ),
    )
    .withPanel(
      new StatPanel()
        .title('Retention rows removed')
        .description('Audit events deleted by the retention job over the selected time range.')
        .datasource(datasources.prometheus)
        .unit('short')
        .span(size.quarter)
        .height(size.height)
        .graphMode(BigValueGraphMode.None)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .withTarget(prom('A', 'sum(increase(lookout_audit_retention_rows_removed_total{service_name=~"$service"}[$__range]))', 'rows removed').instant()),
    )
    .withRow(new RowBuilder('Latest events'))
    .withPanel(
      new TablePanel()
        .title('Latest audit events')
        .description('The 100 newest events in the selected range (of one trace when the Trace id box is set), read from the audit database with the read-only role. Click a trace id to open the trace.')
        .datasource(datasources.auditPostgres)
        .unit('none')
        .span(size.full)
        .height(size.height + 4)
        .filterable(true)
        .withTarget(new SqlQueryBuilder('A', latestEventsSql))
        .overrideByName('trace_id', [{ id: 'links', value: [traceLink] }]),
    );
}
