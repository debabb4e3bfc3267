// Loggers an app builds with pino itself (root and child loggers, pino-http, koa-pino-logger), with the
// agent preloaded: each line written correlated with its span and request, redacted before pino writes it,
// and sent as an OTLP log record, in an ESM app, a CommonJS Express app and a Koa app.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeverityNumber } from '@opentelemetry/api';
import { OtlpReceiver, type ReceivedLog, type ReceivedSpan, type RunningApp } from '@lookout/testkit';
import { loadConfig } from '../src/config.js';
import { planInstrumentations } from '../src/instrumentations.js';
import { severityOf } from '../src/pino.js';
import { APPS_DIR, spawnApp } from './fixtures/spawn-app.js';

// What pino-lines.cjs logs: these must survive redaction as they are.
const ORDER_ID = '6f1c2a9e-4b7d-4c3e-9a51-2d8f0b7e6c14';
const PLACED_AT = '2026-03-14T09:26:53.589Z';
const LINES = ['checked', 'failed', 'from a child', 'handled', 'warned'];
const SECRETS = ['hunter2', 'a@b.example', 'Bearer', 'tok-3f9a8b7c6d5e', 'sid=s3cr3t'];

describe("an app's own pino logger", function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  const apps: Record<'esm' | 'cjs' | 'koa' | 'upstream', RunningApp> = {} as never;

  before(async () => {
    await receiver.start();
    const env = (service: string, more: Record<string, string> = {}) => ({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: service, ...more } });
    [apps.esm, apps.cjs, apps.koa, apps.upstream] = await Promise.all([
      spawnApp('pino-app.mjs', env('pino-esm')),
      spawnApp('pino-app.cjs', env('pino-cjs')),
      spawnApp('koa-pino-app.mjs', env('pino-koa')),
      spawnApp('pino-app.mjs', env('pino-upstream', { LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'pino' })),
    ]);
  });

  after(async () => {
    await Promise.all(Object.values(apps).map((app) => app?.stop()));
    await receiver.stop();
  });

  const serverSpan = (service: string, requestId: string) =>
    receiver.waitFor(`the server span of ${requestId}`, () =>
      receiver.spans.find((s: ReceivedSpan) => s.kind === 'SPAN_KIND_SERVER' && s.resource['service.name'] === service && s.attributes.request_id === requestId),
    );
  const recordsOf = (service: string, tag: string) => receiver.logs.filter((l) => l.resource['service.name'] === service && l.attributes.tag === tag);

  /** GET /log: the fixture's lines through the app's logger; resolves with their records once all arrived. */
  async function logThrough(app: RunningApp, service: string, tag: string): Promise<ReceivedLog[]> {
    const res = await fetch(`${app.url}/log?tag=${tag}`, { headers: { 'x-request-id': `req-${tag}`, authorization: 'Bearer tok-3f9a8b7c6d5e' } });
    assert.equal(res.status, 200);
    return receiver.waitFor(`${LINES.length} records from ${service}`, () => {
      const got = recordsOf(service, tag);
      return got.length >= LINES.length ? got : undefined;
    });
  }

  const stdoutLines = (app: RunningApp, tag: string) => app.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l.tag === tag);

  for (const [kind, service] of [['esm', 'pino-esm'], ['cjs', 'pino-cjs'], ['koa', 'pino-koa']] as const) {
    describe(`${kind === 'esm' ? 'an ESM app on plain http' : kind === 'cjs' ? 'a CommonJS Express app with pino-http' : 'a Koa app with koa-pino-logger'}`, () => {
      it('sends each line the logger writes as a record tied to the server span, and nothing below its level', async () => {
        const records = await logThrough(apps[kind], service, `${kind}-a`);
        const span = await serverSpan(service, `req-${kind}-a`);
        assert.deepEqual(records.map((r) => r.body).sort(), LINES, 'debug is below the logger level: neither written nor sent');
        for (const record of records) {
          assert.equal(record.traceId, span.traceId);
          assert.equal(record.spanId, span.spanId);
          assert.equal(record.scope, '@lookout/agent/pino');
          assert.equal(record.attributes.request_id, `req-${kind}-a`);
          for (const key of ['trace_id', 'span_id', 'trace_flags', 'pid', 'hostname', 'level', 'time', 'msg']) {
            assert.equal(record.attributes[key], undefined, `${key} is in the record's own fields or the resource, not an attribute`);
          }
        }
        const byBody = (body: string) => records.find((r) => r.body === body)!;
        const handled = byBody('handled');
        assert.equal(handled.severityNumber, 'SEVERITY_NUMBER_INFO');
        assert.equal(handled.severityText, 'info');
        assert.equal(handled.attributes.count, 3);
        assert.deepEqual(handled.attributes.nested, { ok: true });
        assert.equal(byBody('warned').severityNumber, 'SEVERITY_NUMBER_WARN');
        assert.equal(byBody('warned').severityText, 'warn');
        const failed = byBody('failed');
        assert.equal(failed.severityNumber, 'SEVERITY_NUMBER_ERROR');
        assert.equal(failed.attributes['exception.type'], 'TypeError');
        assert.equal(failed.attributes['exception.message'], 'bad input');
        assert.match(String(failed.attributes['exception.stacktrace']), /^TypeError: bad input\n/);
        assert.equal(failed.attributes.err, undefined, 'the error is the exception.* attributes');
        assert.equal(byBody('from a child').attributes.component, 'child', "a child logger's bindings are attributes");
        if (kind === 'koa') assert.equal((handled.attributes.req as Record<string, unknown>).url, `/log?tag=${kind}-a`, "ctx.log's request binding");
      });

      it('puts trace_id, span_id, trace_flags and request_id on every stdout line of the request', async () => {
        await logThrough(apps[kind], service, `${kind}-b`);
        const span = await serverSpan(service, `req-${kind}-b`);
        await apps[kind].waitForLine((l) => l.msg === 'checked' && l.tag === `${kind}-b`);
        const lines = stdoutLines(apps[kind], `${kind}-b`);
        assert.deepEqual(lines.map((l) => l.msg).sort(), LINES);
        for (const line of lines) {
          assert.equal(line.trace_id, span.traceId);
          assert.equal(line.span_id, span.spanId);
          assert.equal(line.trace_flags, '01');
          assert.equal(line.request_id, `req-${kind}-b`);
        }
      });

      it("redacts a password and an email before pino writes them, in stdout and in records, and keeps ids, timestamps and pino's own redact", async () => {
        const records = await logThrough(apps[kind], service, `${kind}-c`);
        const checked = await apps[kind].waitForLine((l) => l.msg === 'checked' && l.tag === `${kind}-c`);
        assert.equal(checked.app_objects_intact, true, "the app's objects are not changed: the line is written from a copy");
        const line = stdoutLines(apps[kind], `${kind}-c`).find((l) => l.msg === 'handled')!;
        const record = records.find((r) => r.body === 'handled')!;
        for (const [where, fields] of [['stdout', line], ['the record', record.attributes]] as const) {
          const text = JSON.stringify(fields);
          for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} in ${where}: ${text}`);
          assert.deepEqual(fields.account, { password: '[REDACTED]', email: '[REDACTED]' }, where);
          assert.equal(fields.order_id, ORDER_ID, where);
          assert.equal(fields.placed_at, PLACED_AT, where);
          assert.deepEqual(fields.customer, { name: '***' }, `${where}: the app's own pino redact option still applies`);
        }
        assert.match(String(line.time), /^\d{13}$/, "pino's timestamp is left as it is");
      });
    });
  }

  describe('pino-http', () => {
    for (const [kind, service] of [['esm', 'pino-esm'], ['cjs', 'pino-cjs'], ['koa', 'pino-koa']] as const) {
      it(`correlates req.log lines and the request-completed line, with the request headers redacted (${kind})`, async () => {
        const tag = `${kind}-http`;
        const res = await fetch(`${apps[kind].url}/http?tag=${tag}`, { headers: { 'x-request-id': `req-${tag}`, cookie: 'sid=s3cr3t' } });
        assert.equal(res.status, 200);
        const span = await serverSpan(service, `req-${tag}`);
        const completed = await apps[kind].waitForLine((l) => l.msg === 'request completed' && (l.req as { url?: string } | undefined)?.url === `/http?tag=${tag}`);
        const lines = [completed, ...(kind === 'koa' ? [] : [await apps[kind].waitForLine((l) => l.msg === 'inside pino-http' && l.tag === tag)])];
        for (const line of lines) {
          assert.equal(line.trace_id, span.traceId, String(line.msg));
          assert.equal(line.span_id, span.spanId, String(line.msg));
          assert.equal(line.request_id, `req-${tag}`, String(line.msg));
          assert.equal((line.req as { headers: Record<string, string> }).headers.cookie, '[REDACTED]', String(line.msg));
        }
        const record = await receiver.waitFor('the request-completed record', () =>
          receiver.logs.find((l) => l.resource['service.name'] === service && l.body === 'request completed' && l.attributes.request_id === `req-${tag}`),
        );
        assert.equal(record.traceId, span.traceId);
        assert.equal((record.attributes.res as Record<string, unknown>).statusCode, 200);
        assert.ok(!JSON.stringify(record.attributes).includes('s3cr3t'));
      });
    }
  });

  describe('with LOOKOUT_UPSTREAM_INSTRUMENTATIONS=pino', () => {
    it("sends the same records through upstream's instrumentation, from lines redacted all the same", async () => {
      const [mine, theirs] = await Promise.all([logThrough(apps.esm, 'pino-esm', 'same'), logThrough(apps.upstream, 'pino-upstream', 'same')]);
      const span = await serverSpan('pino-upstream', 'req-same');
      assert.ok(theirs.every((r) => r.scope === '@opentelemetry/instrumentation-pino' && r.traceId === span.traceId));
      const shape = (r: ReceivedLog) => {
        const attributes = { ...r.attributes };
        delete attributes['exception.stacktrace'];
        return { body: r.body, severityText: r.severityText, severityNumber: r.severityNumber, attributes, correlated: r.traceId !== '' && r.spanId !== '' };
      };
      const sorted = (rs: ReceivedLog[]) => rs.map(shape).sort((a, b) => String(a.body).localeCompare(String(b.body)));
      assert.deepEqual(sorted(mine), sorted(theirs));
      const line = await apps.upstream.waitForLine((l) => l.msg === 'handled' && l.tag === 'same');
      assert.equal(line.trace_id, span.traceId);
      assert.equal(line.request_id, 'req-same');
      assert.deepEqual(line.account, { password: '[REDACTED]', email: '[REDACTED]' });
    });
  });

  describe('planning', () => {
    it('loads nothing for pino in an app without it, and hooks its ESM entry only for upstream', () => {
      const dir = mkdtempSync(join(tmpdir(), 'lookout-no-pino-'));
      try {
        writeFileSync(join(dir, 'app.mjs'), '');
        assert.ok(!planInstrumentations(loadConfig({}, join(dir, 'app.mjs'))).names.includes('pino'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const withPino = join(APPS_DIR, 'pino-app.mjs');
      assert.ok(planInstrumentations(loadConfig({}, withPino)).names.includes('pino'));
      assert.ok(!planInstrumentations(loadConfig({}, withPino)).esmModules.includes('pino'));
      assert.ok(planInstrumentations(loadConfig({ LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'pino' }, withPino)).esmModules.includes('pino'));
    });
  });

  describe('severity', () => {
    it("maps pino's levels onto the OpenTelemetry severity numbers, custom levels within the range below them", () => {
      assert.deepEqual([10, 20, 30, 40, 50, 60].map(severityOf), [
        SeverityNumber.TRACE,
        SeverityNumber.DEBUG,
        SeverityNumber.INFO,
        SeverityNumber.WARN,
        SeverityNumber.ERROR,
        SeverityNumber.FATAL,
      ]);
      assert.equal(severityOf(35), SeverityNumber.INFO3);
      assert.equal(severityOf(5), SeverityNumber.TRACE);
      assert.equal(severityOf(100), SeverityNumber.FATAL4);
    });
  });
});
