// Pieces every Lookout dashboard shares: datasource refs by their provisioned UIDs, variables, links, panel defaults.
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  MappingType,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { BigValueColorMode, BigValueGraphMode, LegendDisplayMode, LegendPlacement, ReduceDataOptionsBuilder, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { DataqueryBuilder as PromQuery } from '@grafana/grafana-foundation-sdk/prometheus';
import { DataqueryBuilder as LokiQuery } from '@grafana/grafana-foundation-sdk/loki';
import { DataqueryBuilder as TempoQuery } from '@grafana/grafana-foundation-sdk/tempo';

// The UIDs grafana/provisioning/datasources provisions; a dashboard names no other datasource.
export const datasources = {
  prometheus: { type: 'prometheus', uid: 'prometheus' },
  loki: { type: 'loki', uid: 'loki' },
  tempo: { type: 'tempo', uid: 'tempo' },
  auditPostgres: { type: 'grafana-postgresql-datasource', uid: 'audit-postgres' },
  runsPostgres: { type: 'grafana-postgresql-datasource', uid: 'runs-postgres' },
  alertmanager: { type: 'alertmanager', uid: 'alertmanager' },
} as const satisfies Record<string, common.DataSourceRef>;

// One list of dashboard UIDs, in the mixin's configuration: alert links name them too.
export { dashboardUids } from '../mixin/config.js';

const PANEL_HEIGHT = 8;

// Every dashboard starts the same way: tag, refresh, time range, cross-links to the other Lookout dashboards.
export function lookoutDashboard(uid: string, title: string, description: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['lookout'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .link(
      new DashboardLinkBuilder('Lookout dashboards')
        .type(DashboardLinkType.Dashboards)
        .tags(['lookout'])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    );
}

// A multi-select variable over a label of a Prometheus series. `allValue` is a regex so
// "All" stays one short matcher; `.+` (not `.*`) keeps Loki stream selectors valid.
export function labelVariable(name: string, label: string, metricSelector: string, allValue = '.+'): QueryVariableBuilder {
  const query = `label_values(${metricSelector}, ${label})`;
  return new QueryVariableBuilder(name)
    .label(name)
    .datasource(datasources.prometheus)
    .query(query)
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(allValue);
}

export const serviceVariable = (): QueryVariableBuilder =>
  labelVariable('service', 'service_name', 'http_server_request_duration_seconds_count');

export function prom(refId: string, expr: string, legendFormat: string): PromQuery {
  return new PromQuery().refId(refId).datasource(datasources.prometheus).expr(expr).legendFormat(legendFormat);
}

export function loki(refId: string, expr: string): LokiQuery {
  return new LokiQuery().refId(refId).datasource(datasources.loki).expr(expr);
}

export function traceql(refId: string, query: string, limit: number): TempoQuery {
  return new TempoQuery().refId(refId).datasource(datasources.tempo).queryType('traceql').query(query).limit(limit);
}

// A query for a PostgreSQL datasource (the audit database unless told otherwise). The SDK ships no builder for the PostgreSQL plugin, so this is
// the plugin's query model (rawSql in code mode, table format) behind the SDK's Builder interface.
export interface SqlQuery extends cog.Dataquery {
  refId: string;
  datasource: common.DataSourceRef;
  editorMode: 'code';
  format: 'table' | 'time_series';
  rawQuery: true;
  rawSql: string;
}

export class SqlQueryBuilder implements cog.Builder<cog.Dataquery> {
  constructor(
    private readonly refId: string,
    private readonly rawSql: string,
    private readonly datasource: common.DataSourceRef = datasources.auditPostgres,
  ) {}

  build(): SqlQuery {
    return {
      refId: this.refId,
      datasource: this.datasource,
      editorMode: 'code',
      format: 'table',
      rawQuery: true,
      rawSql: this.rawSql,
      _implementsDataqueryVariant: () => {},
    };
  }
}

// An Explore URL with one pane. Grafana interpolates `$var` / `${var:fmt}` in link URLs
// before following them, so variable references are left unencoded while the rest is.
export function exploreUrl(datasource: common.DataSourceRef, query: Record<string, unknown>): string {
  const panes = {
    a: {
      datasource: datasource.uid,
      queries: [{ refId: 'A', datasource, ...query }],
      range: { from: '${__from}', to: '${__to}' },
    },
  };
  const encoded = encodeURIComponent(JSON.stringify(panes)).replace(
    /%24(%7B[A-Za-z0-9_.]+(%3A[A-Za-z0-9_]+)?%7D|[A-Za-z_][A-Za-z0-9_]*)/g,
    (ref: string) => decodeURIComponent(ref),
  );
  return `/explore?schemaVersion=1&orgId=1&panes=${encoded}`;
}

export function externalLink(title: string, url: string, tooltip: string): DashboardLinkBuilder {
  return new DashboardLinkBuilder(title).type(DashboardLinkType.Link).url(url).tooltip(tooltip).icon('external link').targetBlank(true);
}

export const legendTable = (): VizLegendOptionsBuilder =>
  new VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(LegendDisplayMode.Table)
    .placement(LegendPlacement.Bottom)
    .calcs(['lastNotNull', 'max']);

export function thresholds(steps: Array<[number | null, string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

// Grafana lays panels out on a 24-column grid; a panel is half or full width.
export const size = { half: 12, third: 8, quarter: 6, full: 24, height: PANEL_HEIGHT } as const;

// A Prometheus time series panel with the conventions every dashboard uses: a unit, a description, a table legend.
export function timeseries(title: string, description: string, unit: string, width: number = size.half): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .description(description)
    .datasource(datasources.prometheus)
    .unit(unit)
    .span(width)
    .height(size.height)
    .fillOpacity(10)
    .legend(legendTable());
}

/** A stat that shows a 1/0 series as UP (green) or DOWN (red): `up`, `pg_up`. */
export function upStat(title: string, description: string, query: PromQuery): StatPanel {
  return new StatPanel()
    .title(title)
    .description(description)
    .datasource(datasources.prometheus)
    .unit('none')
    .span(size.quarter)
    .height(size.height)
    .graphMode(BigValueGraphMode.None)
    .colorMode(BigValueColorMode.Background)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .mappings([{ type: MappingType.ValueToText, options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } }])
    .thresholds(
      thresholds([
        [null, 'red'],
        [1, 'green'],
      ]),
    )
    .withTarget(query);
}
