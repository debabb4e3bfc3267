// Workflow runs: the example system's runs from start to outcome: started by the runs service, worked through
// by the worker, and the rows of its workflow_runs table (examples/migrations/001_workflow_runs.ts).
import { DashboardBuilder, MappingType, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { BigValueColorMode, BigValueGraphMode, GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode, ReduceDataOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { workloads } from '../mixin/config.js';
import { recorded } from '../mixin/promql.js';
import { SqlQueryBuilder, dashboardUids, datasources, lookoutDashboard, prom, size, thresholds, timeseries } from './shared.js';

// The worker's component and operation (examples/src/worker.ts: serviceInstruments('worker'), time('workflow.run')).
const QUEUE = 'workflow-runs';
const work = 'lookout_worker_processing_duration_seconds';
const runs = `operation="workflow.run"`;
// The runs service's start route (examples/src/runs.ts): 201 is a run stored and queued on the worker.
const startRoute = 'service_name="runs", http_route="/workflows/:workflowId/runs", http_request_method="POST"';
/** A queued run older than this has most likely lost its outcome (the worker gives up reporting after ~4 s of retries). */
const STUCK_AFTER = '5 minutes';
const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;

/** A query on the runs database (datasource runs-postgres, read-only role), in the plugin's query model. */
const runsSql = (refId: string, rawSql: string) => new SqlQueryBuilder(refId, rawSql, datasources.runsPostgres);

export const recentRunsSql =
  'select created_at, status, workflow_id, tenant_id, requested_by, finished_at, duration_ms / 1000.0 as duration, error_code, id as run_id' +
  ' from workflow_runs where $__timeFilter(created_at) order by created_at desc limit 100';

export const failuresByCodeSql =
  "select coalesce(error_code, '(none)') as error_code, count(*) as runs, max(finished_at) as last_failed" +
  " from workflow_runs where status = 'failed' and $__timeFilter(created_at) group by 1 order by runs desc limit 20";

export const stuckRunsSql =
  `select count(*) as stuck from workflow_runs where status = 'queued' and created_at < now() - interval '${STUCK_AFTER}' and $__timeFilter(created_at)`;

const statusColors = {
  type: MappingType.ValueToText,
  options: { queued: { color: 'blue', index: 0 }, completed: { color: 'green', index: 1 }, failed: { color: 'red', index: 2 } },
};

export function workflowRuns(): DashboardBuilder {
  const failWindow = workloads.failures.window;
  return lookoutDashboard(
    dashboardUids.workflowRuns,
    'Workflow runs',
    'Workflow runs of the example system: runs started, completed and failed, the worker’s queue and processing time, and the latest runs from the runs database.',
  )
    .withRow(new RowBuilder('Throughput'))
    .withPanel(
      timeseries(
        'Runs started, completed and failed',
        'Runs per second: started = the runs service answering 201 to POST /workflows/:workflowId/runs; start failed = its 5xx there (the worker could not take the run, which is then marked failed, or the service failed); completed and failed = outcomes of the worker’s workflow.run (lookout_worker_processing_duration_seconds_count by outcome). Completed well below started means runs pile up or are lost.',
        'ops',
        size.half,
      )
        .withTarget(prom('A', `sum(rate(http_server_request_duration_seconds_count{${startRoute}, http_response_status_code="201"}[$__rate_interval]))`, 'started'))
        .withTarget(prom('B', `sum(rate(http_server_request_duration_seconds_count{${startRoute}, http_response_status_code=~"5.."}[$__rate_interval]))`, 'start failed (5xx)'))
        .withTarget(prom('C', `sum(rate(${work}_count{${runs}, outcome="success"}[$__rate_interval]))`, 'completed'))
        .withTarget(prom('D', `sum(rate(${work}_count{${runs}, outcome="failure"}[$__rate_interval]))`, 'failed'))
        .min(0),
    )
    .withPanel(
      timeseries(
        'Run failure ratio',
        `Share of the worker’s workflow runs that failed: over ${failWindow} (${recorded.processingFailureRatio(failWindow)}, what JobFailureRatioHigh alerts on above ${pct(workloads.failures.above)}) and over the panel’s rate interval. A few percent is the simulated business failure rate; more is a real fault.`,
        'percentunit',
        size.half,
      )
        .withTarget(prom('A', `${recorded.processingFailureRatio(failWindow)}{service="worker", ${runs}}`, `${failWindow}`))
        .withTarget(
          prom(
            'B',
            `sum(rate(${work}_count{${runs}, outcome="failure"}[$__rate_interval])) / sum(rate(${work}_count{${runs}}[$__rate_interval]))`,
            'rate interval',
          ),
        )
        .thresholds(
          thresholds([
            [null, 'green'],
            [workloads.failures.above, 'red'],
          ]),
        )
        .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed))
        .min(0),
    )
    .withRow(new RowBuilder('Worker'))
    .withPanel(
      timeseries(
        'Queue depth',
        `Runs waiting in the worker’s ${QUEUE} queue, per worker instance (lookout_worker_queue_depth). It should drain to near 0 between bursts; above ${workloads.queueDepth.above} for ${workloads.queueDepth.for} alerts QueueDepthHigh, and a full queue makes new runs fail at start (503).`,
        'short',
        size.third,
      )
        .withTarget(prom('A', `max by (instance, queue) (lookout_worker_queue_depth{queue="${QUEUE}"})`, '{{instance}}'))
        .thresholds(
          thresholds([
            [null, 'green'],
            [workloads.queueDepth.above, 'red'],
          ]),
        )
        .min(0),
    )
    .withPanel(
      timeseries(
        'Processing p50 / p95',
        'p50 and p95 time the worker spent on one run, by outcome (lookout_worker_processing_duration_seconds). Rising with a steady load means the work itself got slower; queueing time is not included.',
        's',
        size.third,
      )
        .withTarget(prom('A', `histogram_quantile(0.95, sum by (le, outcome) (rate(${work}_bucket{${runs}}[$__rate_interval])))`, 'p95 {{outcome}}'))
        .withTarget(prom('B', `histogram_quantile(0.5, sum by (le, outcome) (rate(${work}_bucket{${runs}}[$__rate_interval])))`, 'p50 {{outcome}}'))
        .min(0),
    )
    .withPanel(
      new StatPanel()
        .title('Stuck runs')
        .description(
          `Runs created in the selected range still queued after ${STUCK_AFTER}, from the runs database: the worker lost them or could not report their outcome. Should be 0; widen the time range to see older ones.`,
        )
        .datasource(datasources.runsPostgres)
        .unit('short')
        .span(size.third)
        .height(size.height)
        .graphMode(BigValueGraphMode.None)
        .colorMode(BigValueColorMode.Background)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .thresholds(
          thresholds([
            [null, 'green'],
            [1, 'red'],
          ]),
        )
        .withTarget(runsSql('A', stuckRunsSql)),
    )
    .withRow(new RowBuilder('Runs'))
    .withPanel(
      new TablePanel()
        .title('Recent runs')
        .description(
          'The 100 newest runs created in the selected range, from the runs database (workflow_runs, read-only role): status, duration (worker time, seconds) and the error code of failed ones. Many queued runs older than a few seconds mean the worker is behind or lost them.',
        )
        .datasource(datasources.runsPostgres)
        .unit('none')
        .span(size.full - 8)
        .height(size.height + 4)
        .filterable(true)
        .withTarget(runsSql('A', recentRunsSql))
        .overrideByName('status', [
          { id: 'mappings', value: [statusColors] },
          { id: 'custom.cellOptions', value: { type: 'color-text' } },
        ])
        .overrideByName('duration', [{ id: 'unit', value: 's' }]),
    )
    .withPanel(
      new TablePanel()
        .title('Failed runs by error code')
        .description(
          'Failed runs created in the selected range, by error_code, from the runs database. step_failed is the simulated business failure; enqueue_failed means the worker refused or could not be reached, a fault.',
        )
        .datasource(datasources.runsPostgres)
        .unit('none')
        .span(8)
        .height(size.height + 4)
        .withTarget(runsSql('A', failuresByCodeSql)),
    );
}
