// The agent never harms its host: a dead collector, signals, crashes and OTEL_SDK_DISABLED.
import assert from 'node:assert/strict';
import { OtlpReceiver } from '@lookout/testkit';
import { spawnApp } from './fixtures/spawn-app.js';

describe('the agent under faults and at exit', function () {
  this.timeout(90_000);

  it('serves every request while the collector is down, then delivers them when it comes back, warning once per signal', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const port = receiver.port;
    await receiver.stop(); // the port is known and nothing listens on it

    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '1000' },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${app.url}/hello/n${i}`, { headers: { 'x-request-id': `down-${i}` } });
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      assert.deepEqual(new Set(statuses), new Set([200]), 'every request succeeded while the collector was down');

      // Wait until both exporters have failed (each warns once), then bring the collector back on the same port.
      await receiver.waitFor('a failed export of traces and of logs', () => {
        const stderr = app.stderr();
        return stderr.includes('cannot export traces') && stderr.includes('cannot export logs');
      });
      await receiver.start(port);
      await receiver.waitFor(
        'spans of requests served while the collector was down',
        () => receiver.spans.some((s) => s.attributes.request_id === 'down-0') && receiver.spans.some((s) => s.attributes.request_id === 'down-39'),
        30_000,
      );
      await receiver.waitFor('their log records', () => receiver.logs.some((l) => l.attributes.request_id === 'down-0'), 30_000);

      const stderr = app.stderr();
      assert.doesNotMatch(stderr, /Unhandled|TypeError|ReferenceError/);
      for (const signal of ['traces', 'logs']) {
        const warnings = stderr.split('\n').filter((line) => line.includes(`cannot export ${signal}`));
        assert.equal(warnings.length, 1, `one warning for ${signal}, got:\n${stderr}`);
      }
    } finally {
      await app.stop();
      await receiver.stop();
    }
  });

  it('bounds what it keeps for a dead collector and counts what it drops', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const metricsPort = receiver.port;
    const deadPort = await (async () => {
      const probe = new OtlpReceiver();
      await probe.start();
      const port = probe.port;
      await probe.stop();
      return port;
    })();
    // Spans and logs go to a dead port; metrics still reach the receiver, so the drop counters can be read.
    const app = await spawnApp('esm-app.mjs', {
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${deadPort}`,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `http://127.0.0.1:${deadPort}`,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${metricsPort}`,
        OTEL_EXPORTER_OTLP_TIMEOUT: '500',
        OTEL_BSP_MAX_QUEUE_SIZE: '8',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4',
      },
    });
    try {
      for (let i = 0; i < 60; i++) assert.equal((await fetch(`${app.url}/hello/d${i}`)).status, 200);
      const dropped = await receiver.waitFor('lookout.agent.telemetry.dropped for traces', () => {
        const point = receiver.metric('lookout.agent.telemetry.dropped')?.points.find((p) => p.attributes.signal === 'traces');
        return point && point.value! > 0 ? point : undefined;
      }, 20_000);
      assert.ok(dropped.value! > 0);
      const failures = receiver.metric('lookout.agent.export.failures')?.points.find((p) => p.attributes.signal === 'traces');
      assert.ok(failures && failures.value! > 0, 'failed exports are counted');
      const heapUsed = receiver.metric('v8js.memory.heap.used');
      assert.ok(heapUsed, 'the app and its metrics carry on');
    } finally {
      await app.stop();
      await receiver.stop();
    }
  });

  it('keeps serving when the endpoint is not even a collector (a refusing, non-gRPC port), and has not exited 1.5 s later', async () => {
    const { createServer } = await import('node:http');
    const notGrpc = createServer((_req, res) => res.writeHead(404).end()).listen(0, '127.0.0.1');
    await new Promise((r) => notGrpc.once('listening', r));
    const address = notGrpc.address() as { port: number };
    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${address.port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '500' },
    });
    try {
      for (let i = 0; i < 20; i++) assert.equal((await fetch(`${app.url}/hello/x${i}`)).status, 200);
      // Checks that nothing happens (no crash), so there is no event to poll for: a fixed wait.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(app.child.exitCode, null, 'still running');
    } finally {
      await app.stop();
      notGrpc.close();
    }
  });

  it('flushes buffered telemetry on SIGTERM and then dies by the signal, as it would without the agent', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    // Nothing would be exported for a minute: only the shutdown flush can deliver these.
    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '60000', OTEL_BLRP_SCHEDULE_DELAY: '60000', OTEL_METRIC_EXPORT_INTERVAL: '60000' },
    });
    try {
      await (await fetch(`${app.url}/hello/last`, { headers: { 'x-request-id': 'req-last' } })).text();
      const exit = await app.stop('SIGTERM');
      assert.deepEqual(exit, { code: null, signal: 'SIGTERM' });
      assert.ok(receiver.spans.some((s) => s.attributes.request_id === 'req-last'), 'the span was flushed');
      assert.ok(receiver.logs.some((l) => l.attributes.request_id === 'req-last'), 'the log record was flushed');
      assert.ok(receiver.metric('http.server.request.duration'), 'the metrics were flushed');
    } finally {
      await receiver.stop();
    }
  });

  it("leaves the app's own SIGTERM handler in charge, and still flushes", async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const app = await spawnApp('cjs-app.cjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '60000', OTEL_BLRP_SCHEDULE_DELAY: '60000' },
    });
    try {
      await (await fetch(`${app.url}/work`, { headers: { 'x-request-id': 'req-bye' } })).text();
      const exit = await app.stop('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, 'the app closed its server and exited 0 by itself');
      assert.ok(app.lines.includes('closed'), "the app's handler ran");
      assert.ok(receiver.spans.some((s) => s.attributes.request_id === 'req-bye'));
      assert.ok(receiver.logs.some((l) => l.body === 'shutting down'), 'even the log line written in the handler');
    } finally {
      await receiver.stop();
    }
  });

  it('logs an uncaught exception with its stack and trace id, flushes it, and exits with code 1', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '60000', OTEL_BLRP_SCHEDULE_DELAY: '60000' },
    });
    try {
      await (await fetch(`${app.url}/crash`)).text();
      const exit = await app.exited;
      assert.deepEqual(exit, { code: 1, signal: null });
      assert.match(app.stderr(), /Error: crash in a timer\n\s+at /, 'the stack is printed as Node would');
      const fatal = receiver.logs.find((l) => l.severityText === 'FATAL');
      assert.ok(fatal, 'a FATAL log record reached the collector before the exit');
      assert.equal(fatal.attributes['exception.message'], 'crash in a timer');
      assert.match(String(fatal.attributes['exception.stacktrace']), /esm-app\.mjs/);
      const crashSpan = receiver.spans.find((s) => s.attributes['http.route'] === '/crash');
      assert.ok(crashSpan);
      assert.equal(fatal.traceId, crashSpan.traceId, 'the crash is tied to the request that scheduled it');
    } finally {
      await receiver.stop();
    }
  });

  it('logs an unhandled rejection the same way, and exits with code 1 as Node does', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const app = await spawnApp('esm-app.mjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
    try {
      await (await fetch(`${app.url}/reject`)).text();
      assert.deepEqual(await app.exited, { code: 1, signal: null });
      assert.match(app.stderr(), /Error: rejected in the background/);
      const fatal = receiver.logs.find((l) => l.severityText === 'FATAL');
      assert.ok(fatal, 'a FATAL log record');
      assert.match(String(fatal.body), /unhandled rejection: rejected in the background/);
    } finally {
      await receiver.stop();
    }
  });

  it('serves every request when the collector answers slowly, has not exited 1 s later, and bounds the flush at SIGTERM', async () => {
    const receiver = new OtlpReceiver({ delayMs: 20_000 });
    await receiver.start();
    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '15000', LOOKOUT_SHUTDOWN_TIMEOUT_MS: '1000' },
    });
    try {
      for (let i = 0; i < 30; i++) assert.equal((await fetch(`${app.url}/hello/slow${i}`)).status, 200);
      // Checks that nothing happens while exports hang on the collector (no crash), so a fixed wait.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(app.child.exitCode, null, 'still running');
      const started = Date.now();
      assert.deepEqual(await app.stop('SIGTERM'), { code: null, signal: 'SIGTERM' });
      // The collector would take 20 s; the flush gives up after LOOKOUT_SHUTDOWN_TIMEOUT_MS.
      assert.ok(Date.now() - started < 10_000, `exited ${Date.now() - started} ms after SIGTERM`);
      assert.doesNotMatch(app.stderr(), /Unhandled|TypeError/);
    } finally {
      await app.stop();
      await receiver.stop();
    }
  });

  it('loads nothing with OTEL_SDK_DISABLED=true, and no export reaches the collector within 500 ms of exit', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, PROBE_OTEL_GLOBAL: '1' },
    });
    try {
      const res = await fetch(`${app.url}/hello/off`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-request-id'), null, 'no request-id hook either');
      const probe = await app.waitForLine((l) => 'otelGlobal' in l);
      assert.deepEqual(probe.otelGlobal, [], 'no OpenTelemetry provider was registered');
      const line = await app.waitForLine((l) => l.message === 'said hello');
      assert.equal(line.trace_id, undefined);
      await app.stop();
      // Checks that nothing arrives, so there is no event to poll for: a fixed wait after the exit.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(receiver.requests.traces + receiver.requests.metrics + receiver.requests.logs, 0);
    } finally {
      await app.stop();
      await receiver.stop();
    }
  });

  it('warns about a bad variable value and runs with the default', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const app = await spawnApp('esm-app.mjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_MAX_QUEUE_SIZE: 'lots', OTEL_TRACES_SAMPLER: 'mostly' },
    });
    try {
      await (await fetch(`${app.url}/hello/w`, { headers: { 'x-request-id': 'req-w' } })).text();
      await receiver.waitFor('a span', () => receiver.spans.find((s) => s.attributes.request_id === 'req-w'));
      assert.match(app.stderr(), /\[lookout\] warning: OTEL_BSP_MAX_QUEUE_SIZE="lots" is not an integer >= 1; the default 2048 is used/);
      assert.match(app.stderr(), /OTEL_TRACES_SAMPLER="mostly" is not one of/);
    } finally {
      await app.stop();
      await receiver.stop();
    }
  });
});
