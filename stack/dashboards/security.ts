// Security: requests refused for their credentials or rate, per service; the gateway's API-key failures; and the
// audit API's rejected tokens, counted and as the auth.token.rejected audit events it records for each.
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { SqlQueryBuilder, dashboardUids, datasources, exploreUrl, lookoutDashboard, prom, serviceVariable, size, timeseries } from './shared.js';

const requests = 'http_server_request_duration_seconds_count';
const perService = 'service_name=~"$service"';
const rate = (matchers: string) => `rate(${requests}{${matchers}}[$__rate_interval])`;

// The audit API records every token it refuses as auth.token.rejected under its system tenant
// (audit-api/src/app.ts, onRejected), with metadata.reason from TOKEN_REJECTION_REASONS; other services
// that refuse tokens may record the same action, so actor_id says who refused it.
const rejected = "action = 'auth.token.rejected' and $__timeFilter(occurred_at)";

export const rejectionsByReasonSql =
  "select metadata->>'reason' as reason, actor_id as refused_by, count(*) as rejections, count(distinct ip_hash) as clients, max(occurred_at) as last_seen" +
  ` from activity_events where ${rejected} group by 1, 2 order by rejections desc limit 50`;

export const recentRejectionsSql =
  "select occurred_at, actor_id as refused_by, metadata->>'reason' as reason, metadata->>'method' as method, metadata->>'path' as path," +
  " metadata->>'claimed_tenant_id' as claimed_tenant, ip_hash, user_agent, request_id, trace_id" +
  ` from activity_events where ${rejected} order by occurred_at desc limit 100`;

// Clicking a trace id opens that trace in Tempo; `${__value.raw}` is the cell's value.
const traceLink = {
  title: 'Open trace ${__value.raw} in Tempo',
  url: exploreUrl(datasources.tempo, { queryType: 'traceql', query: '${__value.raw}' }),
  targetBlank: false,
};

export function security(): DashboardBuilder {
  return lookoutDashboard(
    dashboardUids.security,
    'Security',
    'Requests refused for their credentials (401/403) or their rate (429) per service, API-key failures at the gateway, and the tokens the audit API rejected, by reason, from its metrics and its own audit events.',
  )
    .withVariable(serviceVariable())
    .withRow(new RowBuilder('Refused requests per service'))
    .withPanel(
      timeseries(
        '401 / 403 by service',
        'Requests per second each service answered 401 (no or bad credentials) or 403 (valid credentials, not allowed), from http_server_request_duration_seconds_count. A steady trickle is clients with expired tokens; a jump is a broken secret rotation, a misconfigured client, or someone guessing credentials.',
        'reqps',
        size.third,
      )
        .withTarget(prom('A', `sum by (service_name, http_response_status_code) (${rate(`${perService}, http_response_status_code=~"401|403"`)})`, '{{service_name}} {{http_response_status_code}}'))
        .min(0),
    )
    .withPanel(
      timeseries(
        'Share of requests refused (401 / 403)',
        'Share of each service’s requests answered 401 or 403. Near 0 is normal; a large share means one client or a whole integration lost its access (or an attack dominates the traffic).',
        'percentunit',
        size.third,
      )
        .withTarget(
          prom(
            'A',
            `sum by (service_name) (${rate(`${perService}, http_response_status_code=~"401|403"`)}) / sum by (service_name) (${rate(perService)})`,
            '{{service_name}}',
          ),
        )
        .min(0),
    )
    .withPanel(
      timeseries(
        'Rate-limited requests (429)',
        'Requests per second each service refused with 429 for exceeding a rate limit (the audit API limits per tenant), by route. Sustained 429s mean a client floods the service or the limit is too low for its real load.',
        'reqps',
        size.third,
      )
        .withTarget(prom('A', `sum by (service_name, http_route) (${rate(`${perService}, http_response_status_code="429"`)})`, '{{service_name}} {{http_route}}'))
        .min(0),
    )
    .withRow(new RowBuilder('API keys and tokens'))
    .withPanel(
      timeseries(
        'Gateway API-key failures by route',
        'Requests per second the gateway answered 401 invalid_api_key (missing or unknown x-api-key; examples/src/gateway.ts), by route. Should be near 0: a burst is a client with a revoked key, or key guessing.',
        'reqps',
        size.third,
      )
        .withTarget(prom('A', `sum by (http_route) (${rate('service_name="gateway", http_response_status_code="401"')})`, '{{http_route}}'))
        .min(0),
    )
    .withPanel(
      timeseries(
        'Audit API auth failures by reason',
        'Requests per second the audit API refused for their token (missing, expired, bad_signature, …) or scope (insufficient_scope), from lookout_audit_auth_failures_total. expired at a steady rate is a client not refreshing; bad_signature or wrong_issuer is a misconfigured or forged token.',
        'reqps',
        size.third,
      )
        .withTarget(prom('A', 'sum by (reason) (rate(lookout_audit_auth_failures_total[$__rate_interval]))', '{{reason}}'))
        .min(0),
    )
    .withPanel(
      timeseries(
        'Audit events rejected by the audit API',
        'Audit events per second a service’s audit client gave up on because the audit API refused its token (401/403/404; lookout_agent_audit_dropped_total, reason rejected), per service. Anything above 0 is a gap in the audit trail: that service’s audit token is wrong or expired.',
        'cps',
        size.third,
      )
        .withTarget(prom('A', `sum by (service_name) (rate(lookout_agent_audit_dropped_total{${perService}, reason="rejected"}[$__rate_interval]))`, '{{service_name}}'))
        .min(0),
    )
    .withRow(new RowBuilder('Rejected tokens (audit events)'))
    .withPanel(
      new TablePanel()
        .title('Token rejections by reason')
        .description(
          'auth.token.rejected audit events in the selected range, by reason and by the service that refused the token, with the number of distinct clients (hashed IPs), from the audit database. Many clients with one reason is a rollout problem; one client with many bad_signature rejections is worth a look.',
        )
        .datasource(datasources.auditPostgres)
        .unit('none')
        .span(size.half - 2)
        .height(size.height + 4)
        .withTarget(new SqlQueryBuilder('A', rejectionsByReasonSql)),
    )
    .withPanel(
      new TablePanel()
        .title('Recent token rejections')
        .description(
          'The 100 newest auth.token.rejected audit events in the selected range: who refused it, why, the request (method, path, tenant the token claimed) and the client (hashed IP, user agent). Click a trace id to open the trace.',
        )
        .datasource(datasources.auditPostgres)
        .unit('none')
        .span(size.half + 2)
        .height(size.height + 4)
        .filterable(true)
        .withTarget(new SqlQueryBuilder('A', recentRejectionsSql))
        .overrideByName('trace_id', [{ id: 'links', value: [traceLink] }]),
    );
}
