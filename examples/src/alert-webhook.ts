// The generic webhook receiver Alertmanager posts every notification to (alertmanager.yml's `webhook`
// receiver): one log line per alert with its labels and links, so a page is visible in Loki next to the
// service's own logs, and GET /alerts lists the last ones received.
import Router from '@koa/router';
import { createLogger } from '@lookout/agent';
import { alertWebhookConfig } from './config.js';
import { serviceApp } from './lib/app.js';
import { HttpError } from './lib/errors.js';
import { healthEndpoints } from './lib/health.js';
import { main, serve } from './lib/serve.js';

const log = createLogger({ defaultMeta: { component: 'alert-webhook' } });
const KEEP = 200;

interface Alert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
}

interface Notification {
  version: string;
  receiver: string;
  status: string;
  groupKey: string;
  alerts: Alert[];
}

async function start(): Promise<void> {
  const config = alertWebhookConfig((message) => log.warn(message));
  const received: Array<Alert & { receiver: string; receivedAt: string }> = [];

  const router = new Router();
  router.post('/alerts', (ctx) => {
    const notification = parse(ctx.request.body);
    for (const alert of notification.alerts) {
      const { alertname, severity, service, ...otherLabels } = alert.labels;
      log.log(alert.status === 'firing' ? 'warn' : 'info', `alert ${alert.status}: ${alertname ?? 'unnamed'}`, {
        alertname,
        severity,
        service,
        alert_status: alert.status,
        receiver: notification.receiver,
        summary: alert.annotations.summary,
        runbook_url: alert.annotations.runbook_url,
        dashboard_url: alert.annotations.dashboard_url,
        labels: otherLabels,
        starts_at: alert.startsAt,
        fingerprint: alert.fingerprint,
      });
      received.push({ ...alert, receiver: notification.receiver, receivedAt: new Date().toISOString() });
    }
    received.splice(0, Math.max(0, received.length - KEEP));
    ctx.body = { received: notification.alerts.length };
  });
  router.get('/alerts', (ctx) => {
    ctx.body = { data: received.slice().reverse() };
  });

  await serve('alert-webhook', serviceApp(log, { jsonLimit: '1mb', health: healthEndpoints() }, router), config, log);
}

/** Alertmanager's webhook payload, version 4. */
function parse(body: unknown): Notification {
  const n = body as Partial<Notification> | undefined;
  if (n?.version !== '4') throw new HttpError(400, 'invalid_notification', 'expected an Alertmanager webhook payload, version "4"', 'version');
  if (!Array.isArray(n.alerts)) throw new HttpError(400, 'invalid_notification', 'alerts must be an array', 'alerts');
  n.alerts.forEach((alert, i) => {
    if (typeof alert?.labels !== 'object' || alert.labels === null) throw new HttpError(400, 'invalid_notification', `alerts[${i}].labels must be an object`, `alerts[${i}].labels`);
    alert.annotations ??= {};
  });
  return n as Notification;
}

main(log, start);
